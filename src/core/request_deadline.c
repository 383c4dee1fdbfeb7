/*
 * request_deadline.c: the calendar of data-subject requests (P-DSR-7).
 *
 * Acknowledgements count business days: every day but Saturday, Sunday and the holidays the
 * tenant's policy lists (dsr.holidays). Answers count calendar time from the day of filing,
 * months as calendar months (cu_duration_add clamps to the month's last day, so one month from
 * January 31 is February 28, or 29 in a leap year). A due date is the end of its UTC day.
 * Pure functions of their arguments: the clock is the caller's (cu_clock_now).
 */
#include "request_int.h"
#include "util.h"

#define DAY 86400

static int64_t day_start(int64_t t)
{
    int64_t r = t % DAY;

    return t - (r < 0 ? r + DAY : r);
}

/* 0 Sunday .. 6 Saturday: 1970-01-01 was a Thursday. */
static int weekday(int64_t day)
{
    int64_t d = (day / DAY + 4) % 7;

    return (int)(d < 0 ? d + 7 : d);
}

static int is_holiday(int64_t day, const int64_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (day_start(h[i]) == day)
            return 1;
    return 0;
}

int64_t cu_request_ack_due(int64_t filed, unsigned n, const int64_t *holidays, size_t n_holidays)
{
    int64_t day = day_start(filed);

    while (n > 0) {
        int wd;
        day += DAY;
        wd = weekday(day);
        if (wd != 0 && wd != 6 && !is_holiday(day, holidays, n_holidays))
            n--;
    }
    return day + DAY - 1;
}

int64_t cu_request_answer_due(int64_t filed, cu_duration d)
{
    return day_start(cu_duration_add(filed, d)) + DAY - 1;
}

cu_rc cu_request_extend_due(int64_t due, cu_duration by, cu_duration max, int64_t *out, cu_err *err)
{
    int64_t t = day_start(cu_duration_add(due, by)) + DAY - 1;

    if (by.count == 0)
        return cu_err_set(err, CU_ERR_INVALID, "an extension must be longer than 0");
    if (max.count == 0)
        return cu_err_set(err, CU_ERR_INVALID, "the tenant's policy allows no extension");
    if (t > day_start(cu_duration_add(due, max)) + DAY - 1)
        return cu_err_set(err, CU_ERR_INVALID,
                          "the extension goes past the policy's maximum (dsr.extension)");
    *out = t;
    return CU_OK;
}
