/*
 * request_int.h: the calendar of data-subject requests (request_deadline.c), for request.c
 * and its tests, and a stored request's public view (for portal.c).
 *
 * Times are unix seconds, dates UTC. A due date is the last second of its day (23:59:59 UTC):
 * a request acknowledged any time on its due day is on time.
 */
#ifndef CU_REQUEST_INT_H
#define CU_REQUEST_INT_H

#include "core_int.h"

/* The due date of the acknowledgement: the end of the n-th business day after the day of
 * filed (n >= 1), skipping Saturdays, Sundays and the policy's holidays (sorted or not). */
int64_t cu_request_ack_due(int64_t filed, unsigned n, const int64_t *holidays, size_t n_holidays);
/* The due date of the answer: the end of the day of filed + d (GDPR Art. 12(3): "one month"
 * from January 31 is the last day of February, 29 in a leap year). */
int64_t cu_request_answer_due(int64_t filed, cu_duration d);
/* The answer's due date extended by by: CU_OK and *out, or CU_ERR_INVALID if by is 0 or goes
 * past due + max (the policy's extension; comparing dates, so "2mo" against "60d" is exact). */
cu_rc cu_request_extend_due(int64_t due, cu_duration by, cu_duration max, int64_t *out,
                            cu_err *err);

/* Files a request of the subject in->subject itself, proven by its privacy center session:
 * verified at filing, no token (portal.c alone calls it; custos_portal.h). */
cu_rc cu_request_file_verified(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                               const cu_request_in *in, cu_request_filed *out, cu_err *err);
/* A stored request as the API shows it at now: open, overdue, due soon; the subject's id only
 * once verified (request.c). */
void cu_request_public(const cu_store_request *r, int64_t now, cu_request *o);

#endif
