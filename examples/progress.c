/* A progress bar over a pool's work, drawn from its statistics: a lazy imap over 200 000 items
 * (a producer makes each item as it is needed, at most 2 000 ahead of the reader), and
 * mproc_pool_stats_get tells how far the pool is. On a terminal the bar redraws one line on
 * standard error (done/total, rate, ETA); elsewhere (a log, CI) it prints a line per 10 %. */
#include "example_util.h"

#include <string.h>

#define TOTAL 200000
#define AHEAD 2000

/* The items: 0, 1, 2, ... made one at a time (a file's lines, a database cursor). */
static int next_item(void *user, size_t index, const void **item, size_t *len)
{
    long long *slot = user;
    if (index >= TOTAL)
        return 1; /* the end */
    *slot = (long long)index;
    *item = slot;
    *len = sizeof *slot;
    return 0;
}

static int square(const void *arg, size_t arg_len, mproc_output *out)
{
    long long v = 0;
    if (arg_len == sizeof v)
        memcpy(&v, arg, sizeof v);
    v *= v;
    return mproc_output_set(out, &v, sizeof v);
}

typedef struct progress {
    int tty;
    int next_tenth; /* the next 10 % step to print when not on a terminal */
    double start;
} progress;

static void show(progress *pg, const mproc_pool_stats *s)
{
    size_t ended = s->done + s->failed + s->lost + s->canceled;
    double secs = ex_now() - pg->start;
    double rate = secs > 0 ? (double)ended / secs : 0;
    double eta = rate > 0 ? (double)(TOTAL - ended) / rate : 0;

    if (pg->tty) {
        char bar[41];
        int i, filled = (int)(40.0 * (double)ended / TOTAL);
        for (i = 0; i < 40; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[40] = '\0';
        fprintf(stderr, "\r[%s] %lu/%d  %.0f tasks/s  ETA %.0f s ", bar, (unsigned long)ended,
                TOTAL, rate, eta);
        fflush(stderr);
        return;
    }
    while (pg->next_tenth <= 10 && ended * 10 >= (size_t)pg->next_tenth * TOTAL) {
        fprintf(stderr, "progress: %d%% (%lu/%d), %.0f tasks/s, ETA %.0f s\n", pg->next_tenth * 10,
                (unsigned long)ended, TOTAL, rate, eta);
        pg->next_tenth++;
    }
}

int main(int argc, char **argv)
{
    mproc_pool_stats s;
    mproc_pool *pool;
    mproc_iter *it;
    progress pg;
    long long slot, sum = 0;
    size_t n = 0;
    int rc;

    ex_check(mproc_init(argc, argv), "mproc_init");
    ex_check(mproc_pool_create(&pool, 2), "mproc_pool_create");

    memset(&pg, 0, sizeof pg);
    pg.tty = ex_stderr_is_terminal();
    pg.next_tenth = 1;
    pg.start = ex_now();
    ex_check(mproc_pool_imap_lazy(pool, square, next_item, &slot, AHEAD, &it),
             "mproc_pool_imap_lazy");
    for (;;) {
        const void *data;
        size_t len;
        long long v;
        rc = mproc_iter_next(it, MPROC_FOREVER, NULL, &data, &len);
        if (rc == MPROC_EEND)
            break;
        ex_check(rc, "mproc_iter_next");
        memcpy(&v, data, sizeof v);
        sum += v;
        if (++n % 1000 == 0 || n == TOTAL) {
            ex_check(mproc_pool_stats_get(pool, &s), "mproc_pool_stats_get");
            show(&pg, &s);
        }
    }
    mproc_iter_destroy(it);
    if (pg.tty)
        fputc('\n', stderr);
    ex_check(mproc_pool_close(pool), "mproc_pool_close");
    ex_check(mproc_pool_join(pool), "mproc_pool_join");
    ex_check(mproc_pool_stats_get(pool, &s), "mproc_pool_stats_get");
    printf("progress: %lu of %d done, %lu failed\n", (unsigned long)s.done, TOTAL,
           (unsigned long)(s.failed + s.lost + s.canceled));
    /* Below 2^53: exact as a double, printed the same by every C runtime. */
    printf("sum of squares of 0..%d = %.0f\n", TOTAL - 1, (double)sum);
    printf("the counts add up: %s\n",
           s.submitted == s.done + s.failed + s.lost + s.canceled + s.running + s.queued ? "yes"
                                                                                         : "no");
    mproc_pool_destroy(pool);
    return 0;
}
