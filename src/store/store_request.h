/*
 * store_request.h: the query of a page of a tenant's data-subject requests (request_page,
 * docs/dsr.md). store.h includes it (kept apart so that store.h stays within the size limit);
 * it needs store.h's types, so include store.h, not this.
 */
#ifndef CU_STORE_REQUEST_H
#define CU_STORE_REQUEST_H

/* A page of a tenant's requests in the queue's order (request_page): open before closed, then
 * by the next due date (ack_due until acknowledged, then answer_due), then id; only rows whose
 * key (closed, due, id) comes after the cursor's, whose due date is within [due_lo, due_hi],
 * and, with open_only, open ones. The core names the closing states. */
typedef struct cu_store_request_query {
    int done[2]; /* the states that close a request */
    int open_only;
    int64_t due_lo, due_hi;
    int after_closed; /* -1: from the start */
    int64_t after_due;
    cu_id after_id;
    size_t limit;
} cu_store_request_query;

#endif
