/* fuzz_wire.c's queue mode (6): a queue's shared region as a hostile or dying process may leave it.
 * Included once by fuzz_wire.c (it uses its CHECK, write_seed and mode numbers).
 *
 * The input is the header's state (head and everything after it up to the wait words: offsets,
 * counts, the redo record, the big message's fields), then bytes for the ring, written from the
 * head's position on (wrapping to the ring's start). The locks are left alone: they are the
 * OS's, and a process that scribbles over them can block the others, which no decoding can
 * prevent. Then size, up to 8 gets, a put, task_done and join run with timeout 0: each must
 * return a code, never crash, read outside the region or wait. A message get returns must fit
 * the region (small) or have the length its marker announced (big).
 *
 * One limit is the harness's, not the library's: a big message's length is cut to 8 MiB, so a
 * get does not try to allocate gigabytes under the fuzzer's memory limit. */
#include "ipc/queue.h"

#include <stddef.h>

#define FQ_BIG_MAX ((uint64_t)8 << 20)
#define FQ_STATE_BYTES (offsetof(mproc__qhdr, seq) - offsetof(mproc__qhdr, head))

static void fq_write_ring(unsigned char *ring, uint64_t cap, uint64_t at, const uint8_t *p,
                          size_t n)
{
    while (n > 0) {
        uint64_t pos = at % cap, k = cap - pos;
        if (k > n)
            k = n;
        memcpy(ring + pos, p, (size_t)k);
        p += k;
        n -= (size_t)k;
        at += k;
    }
}

static mproc_queue *fq_queue(void)
{
    static mproc_queue *q;
    if (q == NULL)
        CHECK(mproc_queue_create(&q, 0) == MPROC_OK);
    return q;
}

static void fuzz_queue(const uint8_t *data, size_t size)
{
    mproc_queue *q = fq_queue();
    mproc__qhdr *h;
    unsigned char *ring;
    void *addr;
    size_t region, n, i;
    uint64_t big_len;

    mproc__queue_region(q, &addr, &region);
    h = (mproc__qhdr *)addr;
    ring = (unsigned char *)addr + 4096;
    n = size < FQ_STATE_BYTES ? size : FQ_STATE_BYTES;
    memset(&h->head, 0, FQ_STATE_BYTES);
    memcpy(&h->head, data, n);
    if (h->big_len > FQ_BIG_MAX)
        h->big_len = FQ_BIG_MAX;
    big_len = h->big_len;
    if (size > n && h->ring_cap != 0)
        fq_write_ring(ring, h->ring_cap, h->head, data + n,
                      size - n < (size_t)h->ring_cap ? size - n : (size_t)h->ring_cap);

    (void)mproc_queue_size(q, &n);
    for (i = 0; i < 8; i++) {
        void *d = NULL;
        size_t len = 0;
        int r = mproc_queue_get(q, 0, &d, &len);
        if (r != MPROC_OK) {
            CHECK(d == NULL && len == 0);
            break;
        }
        CHECK(d != NULL);
        CHECK(len < region || len == big_len);
        if (len > 0)
            CHECK(((volatile unsigned char *)d)[len - 1] == ((unsigned char *)d)[len - 1]);
        mproc_free(d);
    }
    (void)mproc_queue_put(q, "fuzz", 4, 0);
    (void)mproc_queue_task_done(q);
    (void)mproc_queue_join(q, 0);
    (void)mproc_queue_size(q, &n);
}

/* ---- seeds: states the library leaves, dumped as the mode reads them ---- */

static void fq_seed(const char *dir, const char *name, mproc_queue *q)
{
    mproc__buf b = {0};
    mproc__qhdr *h;
    void *addr;
    size_t region;
    uint64_t used;
    unsigned char *ring;
    mproc__queue_region(q, &addr, &region);
    h = (mproc__qhdr *)addr;
    ring = (unsigned char *)addr + 4096;
    used = h->tail - h->head;
    CHECK(mproc__buf_append(&b, &h->head, FQ_STATE_BYTES) == MPROC_OK);
    {
        uint64_t at = h->head, left = used < 4096 ? used + 64 : 4096;
        while (left > 0) {
            uint64_t pos = at % h->ring_cap, k = h->ring_cap - pos;
            if (k > left)
                k = left;
            CHECK(mproc__buf_append(&b, ring + pos, (size_t)k) == MPROC_OK);
            at += k;
            left -= k;
        }
    }
    write_seed(dir, name, MODE_QUEUE, &b);
    mproc__buf_free(&b);
}

static void write_queue_seeds(const char *dir)
{
    mproc_queue *q;
    mproc__qhdr *h;
    void *addr;
    size_t region;
    unsigned char *ring;
    mproc__qrec rec;
    uint32_t gen = 1;

    CHECK(mproc_queue_create(&q, 0) == MPROC_OK);
    fq_seed(dir, "queue-empty", q);
    CHECK(mproc_queue_put(q, "one", 3, 0) == MPROC_OK);
    CHECK(mproc_queue_put(q, NULL, 0, 0) == MPROC_OK);
    CHECK(mproc_queue_put(q, "three, longer than a record header", 34, 0) == MPROC_OK);
    fq_seed(dir, "queue-three", q);
    mproc_queue_destroy(q);

    /* A message that wraps: a pad record at the ring's end, the message at its start. */
    CHECK(mproc_queue_create(&q, 0) == MPROC_OK);
    mproc__queue_region(q, &addr, &region);
    h = (mproc__qhdr *)addr;
    h->head = h->tail = h->ring_cap - 32;
    CHECK(mproc_queue_put(q, "a message that does not fit in 32 bytes", 39, 0) == MPROC_OK);
    fq_seed(dir, "queue-wrapped", q);
    mproc_queue_destroy(q);

    /* A big message's marker, offered and streamed whole. */
    CHECK(mproc_queue_create(&q, 0) == MPROC_OK);
    mproc__queue_region(q, &addr, &region);
    h = (mproc__qhdr *)addr;
    ring = (unsigned char *)addr + 4096;
    rec.type = MPROC__QREC_BIG;
    rec.len = 300000;
    rec.check = rec.type ^ (uint32_t)rec.len ^ MPROC__QREC_SALT;
    memcpy(ring, &rec, sizeof rec);
    memcpy(ring + sizeof rec, &gen, sizeof gen);
    h->tail = 32;
    h->count = 1;
    h->unfinished = 1;
    h->big_gen = gen;
    h->big_state = MPROC__QBIG_OFFERED;
    h->big_len = rec.len;
    h->big_w = rec.len;
    fq_seed(dir, "queue-big", q);
    mproc_queue_destroy(q);
}
