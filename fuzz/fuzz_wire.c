/* libFuzzer harness over every decoder that reads bytes from another process (src/wire.h).
 *
 * The first byte of an input picks what the rest is:
 *   0  the parent's reader of a worker's answers through the pipe: a stream of frames cut by
 *      mproc__wire_frame; each RESULT names one of the tasks in flight (ids 1..n, n from the
 *      input, answered in any order as the parent accepts them) and is checked by
 *      mproc__result_decode against that task's item count (from the input); BELL frames are
 *      skipped. The same stream is also read by mproc__wire_read_frame from a file descriptor:
 *      both framings must agree.
 *   1  mproc__boot_decode of one BOOT body, then mproc__share_list_decode of the objects it
 *      hands the child, then mproc__fn_resolve of the references where that needs no dlopen
 *      (see below).
 *   2  the bounded reader itself (mproc__rd_*, mproc__rd_fn): a list of reads over data.
 *   3  a worker's input: what a spawned child reads (BOOT, then DEFINE and TASK frames), or
 *      what a forked worker reads (DEFINE and TASK frames), run through the real
 *      mproc__worker_main, so the worker's static decoders (define_fn, run_task) are
 *      exercised. Its answers (into a shared ring while they fit, then the pipe) are then read
 *      back as the parent would.
 *   4  the shared ring (src/pool/ring.h) as a hostile worker may leave it: head, tail and bytes
 *      from the input, drained by mproc__ring_drain, whose copies then go through the reader
 *      of mode 0; then the frame a dead worker was filling (mproc__ring_drain_open, its open
 *      and open_at words from the input's last 5 bytes), read the same way.
 *   5  a Pipe's incoming stream (src/ipc/pipe.c) as a hostile or dying peer may leave it: the
 *      bytes are written raw into one end, that end is destroyed, and the other end's
 *      mproc_pipe_recv (and _poll) hands out what it accepts; every message must be the one a
 *      reference reading of the same bytes finds, whole, then MPROC_EEND (the stream ended, in
 *      the middle of a message or not) or MPROC_EPROTO (a header no pipe writes), every time.
 *   6  a queue's shared region (src/ipc/queue.h) as a hostile or dying process may leave it
 *      (fuzz_queue.h).
 *   7  a Pipe's shared ring (src/ipc/pipe_ring.h) as a hostile or dying peer may leave it: the
 *      writer's and the reader's positions and a body's length from the input, the rest of it
 *      the ring's bytes from the reader's position on; a RING frame of that length and a small
 *      message go down the pipe, the writing end is destroyed. recv must give MPROC_EPROTO for
 *      positions more than a ring apart, else the body (the ring's bytes, whole) when the ring
 *      holds it, then the small message, else MPROC_EEND, every time.
 *
 * Decoded data is checked, not only survived: pointers stay inside the input, decode then
 * re-encode with the writers gives the same bytes back (the format has no slack), and a
 * failed mproc__result_decode calls nothing.
 *
 * What a worker input may not do here: make the worker call a function. A DEFINE that resolves
 * to a real function (and a BOOT with an initializer or a process target) would have the worker
 * jump to an address taken from the input, and a non-empty module name would dlopen a path
 * taken from the input; such inputs are skipped. Everything before that point is decoding.
 *
 * MPROC_FUZZ_WRITE_SEEDS=DIR in the environment writes a seed corpus of valid inputs, built
 * with the library's own writers, into DIR and exits. */
#define _GNU_SOURCE
#include "backend.h"
#include "ipc/conn.h"
#include "ipc/pipe.h"
#include "ipc/pipe_ring.h"
#include "ipc/share.h"
#include "pool/ring.h"
#include "wire.h"
#include "pool/worker.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_wire: check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

enum {
    MODE_RESULTS,
    MODE_BOOT,
    MODE_READER,
    MODE_WORKER,
    MODE_RING,
    MODE_PIPE,
    MODE_QUEUE,
    MODE_PIPE_RING,
    MODE_COUNT
};

/* Reading every byte a decoder hands out lets ASan check it lies in the input. */
static volatile unsigned sink;

static void touch(const unsigned char *p, size_t n)
{
    unsigned s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += p[i];
    sink += s;
}

static int inside(const unsigned char *p, size_t n, const unsigned char *base, size_t len)
{
    if (n == 0)
        return 1;
    return p != NULL && p >= base && (size_t)(p - base) <= len && n <= len - (size_t)(p - base);
}

/* A file descriptor holding exactly these bytes, read from its start. */
static int memfd_with(int *fd, const char *name, const void *data, size_t len)
{
    if (*fd < 0) {
        *fd = memfd_create(name, 0);
        CHECK(*fd >= 0);
    }
    CHECK(ftruncate(*fd, 0) == 0);
    CHECK(lseek(*fd, 0, SEEK_SET) == 0);
    CHECK(len == 0 || pwrite(*fd, data, len, 0) == (ssize_t)len);
    return *fd;
}

/* A buffer for mproc__wire_read_frame: empty, with no data pointer yet, as the library's own
 * readers start (the first read must not compute NULL + 0: clang's UBSan stops there). */
static void read_buf_init(mproc__buf *b)
{
    memset(b, 0, sizeof *b);
}

static void wr_fnref(mproc__wr *w, const mproc__fnref *ref)
{
    mproc__wr_blob(w, ref->module, ref->module_len);
    mproc__wr_u64(w, ref->offset);
}

/* A frame header may announce up to 1 GiB, and the readers reserve what it announces at
 * once. Under ASan each such input costs an allocation of that size and the poisoning of its
 * shadow when it is freed (128 MiB of writes per GiB): a few of them a second would be all the
 * fuzzer does. The code path is the same for any size past the input's end, so inputs whose
 * last frame announces more than this past their end are skipped. */
#define MAX_CLAIM_PAST_END ((size_t)1 << 20)
/* A TASK of zero-size items may carry any count: real work (a map of empty items), not
 * decoding. The worker answers each item, so such inputs are bounded here. */
#define MAX_EMPTY_ITEMS 4096

static int claims_ok(const unsigned char *p, size_t n)
{
    size_t off = 0;
    for (;;) {
        int type;
        const unsigned char *body;
        size_t body_len, total, need;
        int r = mproc__wire_frame(p + off, n - off, &type, &body, &body_len, &total, &need);
        if (r < 0)
            return 1;
        if (r == 0)
            return need <= n - off + MAX_CLAIM_PAST_END;
        off += total;
    }
}

/* ---- 0: the parent's reader of RESULT frames ---- */

typedef struct result_ctx {
    const unsigned char *body;
    size_t len;
    size_t count;
    size_t next; /* the next item expected: the frame's first, then one more per call */
    mproc__wr re;
} result_ctx;

static void on_item(void *ctx, size_t i, const mproc__result_item *item)
{
    result_ctx *c = ctx;
    CHECK(i == c->next);
    CHECK(i < c->count);
    c->next++;
    CHECK(item->code <= 0 && item->code >= MPROC__ERRNO_LAST);
    if (item->in_area) {
        /* Bytes said to be in the worker's result area: none in the frame, the reader checks
         * the length against the area (ring.h). */
        CHECK(item->data == NULL && item->code == MPROC_OK && item->len <= MPROC__WIRE_MAX_ITEM);
        mproc__wr_u32(&c->re, (uint32_t)item->code);
        mproc__wr_u32(&c->re, (uint32_t)item->status);
        mproc__wr_u32(&c->re, (uint32_t)item->len | MPROC__WIRE_RESULT_IN_AREA);
        return;
    }
    CHECK(inside(item->data, item->len, c->body, c->len));
    touch(item->data, item->len);
    mproc__wr_u32(&c->re, (uint32_t)item->code);
    mproc__wr_u32(&c->re, (uint32_t)item->status);
    mproc__wr_blob(&c->re, item->data, item->len);
}

/* Decodes one RESULT body as the parent does; returns its verdict. */
/* Decodes one RESULT body as the parent does (items within [0, count) of task id); returns
 * its verdict. */
static int check_result(const unsigned char *body, size_t len, uint64_t id, size_t count)
{
    mproc__buf re = {0};
    result_ctx c;
    mproc__rd hr;
    uint32_t first, n;
    int r;

    mproc__rd_init(&hr, body, len);
    (void)mproc__rd_u64(&hr);
    first = mproc__rd_u32(&hr);
    n = mproc__rd_u32(&hr);
    memset(&c, 0, sizeof c);
    c.body = body;
    c.len = len;
    c.count = count;
    c.next = first;
    c.re.b = &re;
    mproc__wr_u64(&c.re, id);
    mproc__wr_u32(&c.re, first);
    mproc__wr_u32(&c.re, n);
    r = mproc__result_decode(body, len, id, count, on_item, &c);
    CHECK(r == MPROC_OK || r == MPROC_EPROTO);
    if (r == MPROC_OK) {
        CHECK(!hr.err && n >= 1 && first < count && n <= count - first);
        CHECK(c.next == (size_t)first + n);
        CHECK(c.re.err == 0);
        CHECK(re.len == len && (len == 0 || memcmp(re.data, body, len) == 0));
    } else {
        CHECK(c.next == first); /* no call before the whole body was checked */
    }
    mproc__buf_free(&re);
    return r;
}

typedef struct frame_rec {
    int type;
    size_t body_len, total;
} frame_rec;

#define MAX_INFLIGHT 16

/* The tasks in flight on one worker, as the parent's pool thread knows them. */
typedef struct inflight {
    size_t n;
    size_t count; /* items per task */
    int answered[MAX_INFLIGHT + 1];
} inflight;

/* One frame as mproc__results_decode (src/pool/results.c) takes it: a RESULT for some items of a
 * task in flight, found by its id, or a BELL; anything else would get the worker killed. A task
 * counts as answered once a frame answers its last item. */
static void take_frame(inflight *f, int type, const unsigned char *body, size_t len)
{
    mproc__rd r;
    uint64_t id;

    if (type != MPROC__MSG_RESULT)
        return;
    mproc__rd_init(&r, body, len);
    id = mproc__rd_u64(&r);
    if (r.err || id == 0 || id > f->n || f->answered[id])
        return;
    if (check_result(body, len, id, f->count) == MPROC_OK) {
        mproc__rd_init(&r, body, len);
        (void)mproc__rd_u64(&r);
        if ((size_t)mproc__rd_u32(&r) + mproc__rd_u32(&r) == f->count)
            f->answered[id] = 1;
    }
}

/* Cuts `in` into frames as the parent does and takes each. Returns how many. */
static size_t take_frames(inflight *f, const unsigned char *p, size_t n)
{
    size_t off = 0, frames = 0;
    for (;;) {
        int type;
        const unsigned char *body;
        size_t body_len, total, need;
        if (mproc__wire_frame(p + off, n - off, &type, &body, &body_len, &total, &need) != 1)
            return frames;
        take_frame(f, type, body, body_len);
        off += total;
        frames++;
    }
}

static void fuzz_results(const unsigned char *data, size_t size)
{
    static int fd = -1;
    size_t off = 0, nframes = 0, i;
    frame_rec frames[64];
    int end; /* how the stream ended: 0 clean or wanting more bytes, MPROC_EPROTO */
    mproc__buf b;
    inflight f;

    if (size < 2)
        return;
    memset(&f, 0, sizeof f);
    f.count = data[0];
    f.n = 1 + data[1] % MAX_INFLIGHT;
    data += 2;
    size -= 2;
    if (!claims_ok(data, size))
        return;

    /* The parent's loop (mproc__results_decode): frames from the bytes at hand. The parent stops at
     * the first refusal (and kills the worker); going on past it here only tries more. */
    for (;;) {
        int type;
        const unsigned char *body;
        size_t body_len, total, need;
        int r = mproc__wire_frame(data + off, size - off, &type, &body, &body_len, &total, &need);
        if (r == 0) {
            CHECK(need == 0 || (need > size - off && need >= MPROC__WIRE_HEADER &&
                                need <= MPROC__WIRE_HEADER + MPROC__WIRE_MAX_BODY));
            end = 0;
            break;
        }
        if (r < 0) {
            CHECK(r == MPROC_EPROTO);
            end = r;
            break;
        }
        CHECK(r == 1);
        CHECK(type >= MPROC__MSG_BOOT && type <= MPROC__MSG_BELL);
        CHECK(total == MPROC__WIRE_HEADER + body_len && total <= size - off);
        CHECK(body == data + off + MPROC__WIRE_HEADER);
        touch(body, body_len);
        if (nframes < sizeof frames / sizeof frames[0]) {
            frames[nframes].type = type;
            frames[nframes].body_len = body_len;
            frames[nframes].total = total;
        }
        nframes++;
        take_frame(&f, type, body, body_len);
        off += total;
    }

    /* The blocking reader a spawned child and a worker use: the same frames, then a clean end
     * only where the bytes ran out on a frame boundary. */
    fd = memfd_with(&fd, "fuzz-results", data, size);
    read_buf_init(&b);
    for (i = 0;; i++) {
        int type;
        const unsigned char *body;
        size_t body_len, total;
        int r = mproc__wire_read_frame(fd, &b, &type, &body, &body_len, &total);
        if (r != 1) {
            CHECK(i == nframes);
            if (end < 0)
                CHECK(r == MPROC_EPROTO);
            else
                CHECK(r == (off == size ? 0 : MPROC_EPROTO));
            break;
        }
        CHECK(i < nframes);
        if (i < sizeof frames / sizeof frames[0]) {
            CHECK(type == frames[i].type);
            CHECK(body_len == frames[i].body_len);
            CHECK(total == frames[i].total);
        }
        CHECK(body == b.data + b.pos + MPROC__WIRE_HEADER);
        mproc__buf_consume(&b, total);
    }
    mproc__buf_free(&b);
}

/* ---- 4: the shared ring ---- */

static mproc__ring *ring_new(void)
{
    /* On the heap, exactly its size: a read past the end of data is ASan's to see. */
    mproc__ring *r = malloc(sizeof *r);
    CHECK(r != NULL);
    return r;
}

/* Lays bytes into the ring from position tail onwards, wrapping, as a worker left them. */
static void ring_fill(mproc__ring *r, uint32_t tail, uint32_t head, const unsigned char *data,
                      size_t n)
{
    size_t pos = tail % MPROC__RING_BYTES, i;
    memset(r, 0, sizeof *r);
    for (i = 0; i < n && i < MPROC__RING_BYTES; i++)
        r->data[(pos + i) % MPROC__RING_BYTES] = data[i];
    r->head = head;
    r->tail = tail;
}

/* Drains r from *tail as the parent does and checks what comes out. Returns drain's verdict. */
static int ring_check(mproc__ring *r, uint32_t *tail, inflight *f)
{
    uint32_t before = *tail, head = r->head;
    mproc__buf out = {0};
    size_t off = 0;
    int frames = mproc__ring_drain(r, tail, &out), i;

    CHECK(frames >= 0 || frames == MPROC_EPROTO);
    if (frames < 0) {
        CHECK(*tail == before); /* nothing consumed on garbage */
    } else {
        CHECK(*tail == head && r->tail == head);
        /* Whole frames only, each exactly as long as its header says. */
        for (i = 0; i < frames; i++) {
            size_t len;
            CHECK(mproc__buf_avail(&out) - off >= MPROC__WIRE_HEADER);
            len = (size_t)out.data[off] | (size_t)out.data[off + 1] << 8 |
                  (size_t)out.data[off + 2] << 16 | (size_t)out.data[off + 3] << 24;
            CHECK(len <= mproc__buf_avail(&out) - off - MPROC__WIRE_HEADER);
            off += MPROC__WIRE_HEADER + len;
        }
        CHECK(off == mproc__buf_avail(&out));
        if (f != NULL && off > 0)
            take_frames(f, out.data + out.pos, off);
        /* Then, as after the worker's death, the frame it was filling (open and open_at come
         * from the input too): one whole frame or nothing. */
        {
            size_t had = mproc__buf_avail(&out);
            int open = mproc__ring_drain_open(r, *tail, &out);
            CHECK(open == 0 || open == 1 || open == MPROC_EPROTO);
            CHECK(open == 1 || mproc__buf_avail(&out) == had);
            if (open == 1) {
                size_t len;
                CHECK(mproc__buf_avail(&out) - had >= MPROC__WIRE_HEADER);
                len = (size_t)out.data[out.pos + had] | (size_t)out.data[out.pos + had + 1] << 8 |
                      (size_t)out.data[out.pos + had + 2] << 16 |
                      (size_t)out.data[out.pos + had + 3] << 24;
                CHECK(len == mproc__buf_avail(&out) - had - MPROC__WIRE_HEADER);
                if (f != NULL)
                    take_frames(f, out.data + out.pos + had, mproc__buf_avail(&out) - had);
            }
        }
    }
    mproc__buf_free(&out);
    return frames;
}

static void fuzz_ring(const unsigned char *data, size_t size)
{
    static mproc__ring *ring;
    uint32_t tail, delta;
    inflight f;
    mproc__rd r;

    if (ring == NULL)
        ring = ring_new();
    mproc__rd_init(&r, data, size);
    memset(&f, 0, sizeof f);
    f.count = mproc__rd_u8(&r);
    f.n = 1 + mproc__rd_u8(&r) % MAX_INFLIGHT;
    /* The tail is the parent's own (it never reads it back from the shared page) and moves by
     * whole 8-byte slots from 0: mproc__ring_drain relies on that (a tail 4 bytes or less
     * from the end would have it read the length word past the ring). */
    tail = mproc__rd_u32(&r) & ~(uint32_t)7;
    delta = mproc__rd_u32(&r);
    if (r.err)
        return;
    ring_fill(ring, tail, tail + delta, r.p, r.left);
    /* The open-frame words, from the last 5 bytes of the input (0 when it is short). */
    ring->open = size >= 5 ? data[size - 5] & 1 : 0;
    ring->open_at = size >= 5 ? (uint32_t)data[size - 4] | (uint32_t)data[size - 3] << 8 |
                                    (uint32_t)data[size - 2] << 16 | (uint32_t)data[size - 1] << 24
                              : 0;
    ring_check(ring, &tail, &f);
}

/* ---- 1: the bootstrap record ---- */

/* Resolves a reference only where that cannot dlopen a path from the input: the main
 * executable (""), and the module names refused before any loading. */
static void maybe_resolve(const mproc__fnref *ref)
{
    mproc__fn fn;
    int r;
    if (ref->module_len != 0 && ref->module_len < 4096 &&
        memchr(ref->module, '\0', ref->module_len) == NULL)
        return;
    r = mproc__fn_resolve(ref, &fn);
    CHECK(r == MPROC_OK || r == MPROC_ENOFUNC);
    if (r == MPROC_OK && ref->module_len == 0 && ref->offset == MPROC__NO_OFFSET)
        CHECK(fn == NULL);
}

/* The objects a BOOT record hands the child (src/ipc/share.c): decoded, then written again by
 * the parent's writer, which must give the same bytes. The handles it names are numbers from
 * the input: never closed here. */
static void fuzz_shares(const unsigned char *p, size_t len)
{
    mproc__share_list l;
    mproc__buf re = {0};
    mproc__wr w;
    size_t i, j;
    int r = mproc__share_list_decode(p, len, &l);

    CHECK(r == MPROC_OK || r == MPROC_EPROTO || r == MPROC_ENOMEM);
    if (r < 0) {
        CHECK(l.n == 0 && l.recs == NULL);
        return;
    }
    CHECK(l.n <= MPROC__SHARE_MAX_OBJECTS);
    for (i = 0; i < l.n; i++) {
        CHECK(l.recs[i].nh <= MPROC__SHARE_MAX_HANDLES);
        CHECK(l.recs[i].blob_len <= MPROC__SHARE_MAX_BLOB);
        for (j = 0; j < l.recs[i].nh; j++)
            CHECK(l.recs[i].h[j] > 2);
    }
    w.b = &re;
    w.err = 0;
    if (len > 0)
        mproc__share_list_write(&w, &l);
    CHECK(w.err == 0);
    CHECK(re.len == len && (len == 0 || memcmp(re.data, p, len) == 0));
    mproc__buf_free(&re);
    for (i = 0; i < l.n; i++)
        l.recs[i].nh = 0;
    mproc__share_list_free(&l);
}

static void fuzz_boot(const unsigned char *body, size_t len)
{
    mproc__boot boot;
    mproc__buf re = {0};
    mproc__wr w;
    int r = mproc__boot_decode(body, len, &boot);

    CHECK(r == MPROC_OK || r == MPROC_EPROTO);
    if (r < 0)
        return;
    CHECK(boot.kind == MPROC__BOOT_PROCESS || boot.kind == MPROC__BOOT_WORKER);
    CHECK(inside((const unsigned char *)boot.name, boot.name_len, body, len));
    CHECK(inside((const unsigned char *)boot.target.module, boot.target.module_len, body, len));
    CHECK(inside(boot.arg, boot.arg_len, body, len));
    CHECK(inside((const unsigned char *)boot.init.module, boot.init.module_len, body, len));
    CHECK(inside(boot.initarg, boot.initarg_len, body, len));

    w.b = &re;
    w.err = 0;
    mproc__wr_u8(&w, (uint8_t)boot.kind);
    mproc__wr_u8(&w, (uint8_t)boot.daemon);
    mproc__wr_u32(&w, boot.max_tasks);
    mproc__wr_u64(&w, (uint64_t)(int64_t)boot.parent_pid);
    mproc__wr_blob(&w, boot.name, boot.name_len);
    wr_fnref(&w, &boot.target);
    mproc__wr_blob(&w, boot.arg, boot.arg_len);
    wr_fnref(&w, &boot.init);
    mproc__wr_blob(&w, boot.initarg, boot.initarg_len);
    CHECK(inside(boot.shares, boot.shares_len, body, len));
    mproc__wr_bytes(&w, boot.shares, boot.shares_len);
    CHECK(w.err == 0);
    CHECK(re.len == len && memcmp(re.data, body, len) == 0);
    mproc__buf_free(&re);

    fuzz_shares(boot.shares, boot.shares_len);
    maybe_resolve(&boot.target);
    maybe_resolve(&boot.init);
}

/* ---- 5: a Pipe's incoming stream ---- */

static void fuzz_pipe(const unsigned char *data, size_t size)
{
    mproc_pipe *a = NULL, *b = NULL;
    size_t at = 0;
    int r, i, kind;

    /* A pipe holds 64 KiB: more would wait for a reader that is this same thread. */
    if (size > 60000)
        size = 60000;
    CHECK(mproc_pipe_create(&a, &b) == MPROC_OK);
    CHECK(mproc__os_conn_write(mproc__pipe_conn(a), data, size, NULL, 0) == MPROC_OK);
    mproc_pipe_destroy(a);
    for (;;) {
        void *msg = NULL;
        size_t len = 0;
        uint64_t want;
        int ready = mproc_pipe_poll(b, 0);
        CHECK(ready == 1);
        r = mproc_pipe_recv(b, 0, &msg, &len);
        /* The reference: the next header at `at` (NUDGE frames skipped), and its body after
         * it; a RING frame's body is in the ring, empty here, its writer gone. */
        while (size - at >= MPROC__PIPE_HEADER &&
               mproc__pipe_frame_decode(data + at, &kind, &want) == MPROC_OK &&
               kind == MPROC__PIPE_NUDGE)
            at += MPROC__PIPE_HEADER;
        if (size - at < MPROC__PIPE_HEADER) {
            CHECK(r == MPROC_EEND);
            break;
        }
        if (mproc__pipe_frame_decode(data + at, &kind, &want) < 0) {
            CHECK(r == MPROC_EPROTO);
            break;
        }
        if (kind == MPROC__PIPE_RING) {
            CHECK(r == (mproc__pipe_ring(b, &i) != NULL ? MPROC_EEND : MPROC_EPROTO));
            break;
        }
        if (size - at - MPROC__PIPE_HEADER < want) {
            CHECK(r == MPROC_EEND);
            break;
        }
        CHECK(r == MPROC_OK && len == want);
        CHECK(len == 0 || memcmp(msg, data + at + MPROC__PIPE_HEADER, len) == 0);
        mproc_free(msg);
        at += MPROC__PIPE_HEADER + (size_t)want;
    }
    /* The same answer again: the end (or the refusal) stays. */
    for (i = 0; i < 2; i++) {
        void *msg = (void *)&i;
        size_t len = 1;
        CHECK(mproc_pipe_recv(b, 0, &msg, &len) == r && msg == NULL && len == 0);
    }
    mproc_pipe_destroy(b);
}

/* ---- 7: a Pipe's shared ring ---- */

static void fuzz_pipe_ring(const unsigned char *data, size_t size)
{
    mproc_pipe *a = NULL, *b = NULL;
    mproc__pring *g;
    mproc__pring_dir *d;
    unsigned char *ring, h[MPROC__PIPE_HEADER];
    uint32_t w, rd, len, k;
    void *msg = NULL;
    size_t n = 0;
    int out, r, i;
    mproc__rd in;

    if (size < 12)
        return;
    mproc__rd_init(&in, data, 12);
    w = mproc__rd_u32(&in);
    rd = mproc__rd_u32(&in);
    /* The harness's limit, not the library's: at most 2 rings' worth, so no gigabytes. */
    len = mproc__rd_u32(&in) % (2 * MPROC__PRING_CAP) + 1;
    data += 12;
    size -= 12;
    if (size > MPROC__PRING_CAP)
        size = MPROC__PRING_CAP;
    CHECK(mproc_pipe_create(&a, &b) == MPROC_OK);
    g = mproc__pipe_ring(a, &out);
    if (g == NULL) {
        mproc_pipe_destroy(a);
        mproc_pipe_destroy(b);
        return;
    }
    d = mproc__pring_words(g, out);
    ring = mproc__pring_data(g, out);
    for (k = 0; k < size; k++)
        ring[(rd + k) & (MPROC__PRING_CAP - 1)] = data[k];
    d->w = w;
    d->r = rd;
    mproc__pipe_frame(h, MPROC__PIPE_RING, len);
    CHECK(mproc__os_conn_write(mproc__pipe_conn(a), h, sizeof h, NULL, 0) == MPROC_OK);
    mproc__pipe_frame(h, MPROC__PIPE_PLAIN, 3);
    CHECK(mproc__os_conn_write(mproc__pipe_conn(a), h, sizeof h, "end", 3) == MPROC_OK);
    mproc_pipe_destroy(a); /* b holds the region on */
    CHECK(mproc_pipe_poll(b, 0) == 1);
    r = mproc_pipe_recv(b, 0, &msg, &n);
    if (w - rd > MPROC__PRING_CAP) {
        CHECK(r == MPROC_EPROTO);
    } else if (w - rd >= len) {
        CHECK(r == MPROC_OK && n == len);
        for (k = 0; k < len; k++)
            CHECK(((unsigned char *)msg)[k] == ring[(rd + k) & (MPROC__PRING_CAP - 1)]);
        mproc_free(msg);
        CHECK(d->r == rd + len); /* taken, and said so */
        r = mproc_pipe_recv(b, 0, &msg, &n);
        CHECK(r == MPROC_OK && n == 3 && memcmp(msg, "end", 3) == 0);
        mproc_free(msg);
        r = mproc_pipe_recv(b, 0, &msg, &n);
        CHECK(r == MPROC_EEND);
    } else {
        CHECK(r == MPROC_EEND);
    }
    /* The same answer again: the end (or the refusal) stays. */
    for (i = 0; i < 2; i++) {
        msg = (void *)&i;
        n = 1;
        CHECK(mproc_pipe_recv(b, 0, &msg, &n) == r && msg == NULL && n == 0);
    }
    mproc_pipe_destroy(b);
}

/* ---- 2: the bounded reader ---- */

static void fuzz_reader(const unsigned char *data, size_t size)
{
    size_t nops, i;
    const unsigned char *ops, *buf;
    size_t len;
    mproc__rd r;

    if (size < 1)
        return;
    nops = data[0];
    if (nops > size - 1)
        nops = size - 1;
    ops = data + 1;
    buf = ops + nops;
    len = size - 1 - nops;
    mproc__rd_init(&r, buf, len);
    for (i = 0; i < nops; i++) {
        size_t before = r.left;
        const unsigned char *at = r.p;
        int failed = r.err;
        size_t want = 0, n;
        const unsigned char *p = NULL;
        mproc__fnref ref;

        switch (ops[i] % 6) {
        case 0:
            CHECK(mproc__rd_u8(&r) == (failed || before < 1 ? 0 : at[0]));
            want = 1;
            break;
        case 1: {
            uint32_t v = mproc__rd_u32(&r);
            want = 4;
            if (failed || before < 4)
                CHECK(v == 0);
            else
                CHECK(v == ((uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 |
                            (uint32_t)at[3] << 24));
            break;
        }
        case 2: {
            uint64_t v = mproc__rd_u64(&r);
            want = 8;
            /* With 4 to 7 bytes left the low half is read before the overrun: the value is
             * partial, but err is set, and every decoder checks err before using anything. */
            if (failed || before < 4)
                CHECK(v == 0);
            else if (before < 8)
                CHECK(r.err && (v >> 32) == 0);
            else
                CHECK(v == ((uint64_t)at[0] | (uint64_t)at[1] << 8 | (uint64_t)at[2] << 16 |
                            (uint64_t)at[3] << 24 | (uint64_t)at[4] << 32 | (uint64_t)at[5] << 40 |
                            (uint64_t)at[6] << 48 | (uint64_t)at[7] << 56));
            break;
        }
        case 3:
            want = ops[i] >> 3;
            p = mproc__rd_bytes(&r, want);
            CHECK((p == NULL) == (failed || before < want));
            CHECK(p == NULL || p == at);
            break;
        case 4:
            p = mproc__rd_blob(&r, &n);
            if (p != NULL) {
                CHECK(inside(p, n, buf, len));
                touch(p, n);
            } else {
                CHECK(n == 0 && r.err);
            }
            want = 0; /* variable; checked below by the invariants */
            break;
        default:
            mproc__rd_fn(&r, &ref);
            if (!r.err) {
                CHECK(inside((const unsigned char *)ref.module, ref.module_len, buf, len));
                touch((const unsigned char *)ref.module, ref.module_len);
            }
            want = 0;
            break;
        }
        /* Once failed, always failed, and nothing more is consumed. */
        if (failed)
            CHECK(r.err && r.left == before);
        CHECK(r.left <= before);
        CHECK(r.p == at + (before - r.left) || r.err);
        if (want > 0 && !r.err)
            CHECK(r.left == before - want);
        CHECK(inside(r.p, r.left, buf, len) || r.left == 0);
    }
}

/* ---- 3: a worker's input ---- */

/* May this stream run in a real worker loop without the worker calling a function named by
 * the input? Walks the frames the worker would take, in order, stopping where it would. */
static int worker_safe(const unsigned char *p, size_t n)
{
    size_t off = 0;
    for (;;) {
        int type;
        const unsigned char *body;
        size_t body_len, total, need;
        mproc__rd r;
        if (mproc__wire_frame(p + off, n - off, &type, &body, &body_len, &total, &need) != 1)
            return 1; /* the worker stops here */
        mproc__rd_init(&r, body, body_len);
        if (type == MPROC__MSG_DEFINE) {
            mproc__fnref ref;
            mproc__rd_u64(&r);
            mproc__rd_fn(&r, &ref);
            if (r.err || r.left != 0)
                return 1; /* refused: the worker stops here */
            if (ref.module_len != 0 || ref.offset != MPROC__NO_OFFSET)
                return 0;
        } else if (type == MPROC__MSG_TASK) {
            uint64_t size;
            uint32_t count;
            mproc__rd_u64(&r);
            mproc__rd_u64(&r);
            mproc__rd_u32(&r); /* tag */
            mproc__rd_u32(&r); /* first */
            count = mproc__rd_u32(&r);
            size = mproc__rd_u64(&r);
            if (!r.err && size == 0 && count > MAX_EMPTY_ITEMS)
                return 0;
        } else {
            return 1;
        }
        off += total;
    }
}

/* Every RESULT the worker wrote, into the ring or down the pipe, must be one the parent
 * accepts: it names a task (its own id) and items of it. */
static void check_answers(const unsigned char *p, size_t len)
{
    size_t off = 0;
    for (;;) {
        int type;
        const unsigned char *body;
        size_t body_len, total, need;
        mproc__rd r;
        uint64_t id;
        uint32_t count;
        int f = mproc__wire_frame(p + off, len - off, &type, &body, &body_len, &total, &need);
        if (f == 0 && off == len)
            break;
        CHECK(f == 1 && type == MPROC__MSG_RESULT);
        mproc__rd_init(&r, body, body_len);
        id = mproc__rd_u64(&r);
        count = mproc__rd_u32(&r); /* first */
        count += mproc__rd_u32(&r);
        CHECK(!r.err);
        CHECK(check_result(body, body_len, id, count) == MPROC_OK);
        off += total;
    }
}

static void check_worker_ring(mproc__ring *ring)
{
    uint32_t tail = 0;
    mproc__buf out = {0};
    CHECK(mproc__ring_drain(ring, &tail, &out) >= 0);
    if (mproc__buf_avail(&out) > 0)
        check_answers(out.data + out.pos, mproc__buf_avail(&out));
    mproc__buf_free(&out);
}

static void check_worker_output(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);
    unsigned char *out;
    size_t len;

    CHECK(end >= 0);
    len = (size_t)end;
    if (len == 0)
        return;
    out = malloc(len);
    CHECK(out != NULL);
    CHECK(pread(fd, out, len, 0) == (ssize_t)len);
    check_answers(out, len);
    free(out);
}

static void fuzz_worker(const unsigned char *data, size_t size)
{
    static int in_fd = -1, out_fd = -1;
    static mproc__ring *ring;
    mproc__worker_cfg cfg;
    mproc__buf b;
    int type, r;
    const unsigned char *body;
    size_t body_len, total;

    if (!worker_safe(data, size) || !claims_ok(data, size))
        return;
    memset(&cfg, 0, sizeof cfg);
    cfg.in = memfd_with(&in_fd, "fuzz-worker-in", data, size);
    cfg.out = memfd_with(&out_fd, "fuzz-worker-out", NULL, 0);
    cfg.fork = 0; /* as a spawned worker: no DEFINE may say "at the parent's address" */
    if (ring == NULL)
        ring = ring_new();
    memset(ring, 0, sizeof *ring);
    cfg.ring = ring; /* never drained while the worker runs: once full, answers take the pipe */
    read_buf_init(&b);

    /* A spawned child first reads its BOOT record (src/child.c); a forked worker reads tasks
     * straight away. */
    r = mproc__wire_read_frame(cfg.in, &b, &type, &body, &body_len, &total);
    if (r == 1 && type == MPROC__MSG_BOOT) {
        mproc__boot boot;
        if (mproc__boot_decode(body, body_len, &boot) < 0 || boot.kind != MPROC__BOOT_WORKER ||
            boot.init.module_len != 0 || boot.init.offset != MPROC__NO_OFFSET)
            goto finish; /* a child exits here, or would run a function of the input's */
        cfg.max_tasks = boot.max_tasks;
        mproc__buf_consume(&b, total);
        if (!worker_safe(b.data + b.pos, mproc__buf_avail(&b)))
            goto finish;
    } else {
        /* Start over from the first byte, as a forked worker would. */
        mproc__buf_free(&b);
        read_buf_init(&b);
        CHECK(lseek(cfg.in, 0, SEEK_SET) == 0);
    }
    cfg.in_buf = &b;
    r = mproc__worker_main(&cfg);
    CHECK(r == 0 || r == MPROC__EXIT_BOOT); /* EXIT_BOOT: it stopped at a bad frame */
    check_worker_ring(ring);
    check_worker_output(cfg.out);
finish:
    mproc__buf_free(&b);
}

/* ---- seeds ---- */

static void write_seed(const char *dir, const char *name, int mode, const mproc__buf *b)
{
    char path[4096];
    FILE *f;
    unsigned char m = (unsigned char)mode;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(&m, 1, 1, f) == 1);
    CHECK(b->len == 0 || fwrite(b->data, 1, b->len, f) == b->len);
    CHECK(fclose(f) == 0);
}

#include "fuzz_queue.h" /* the queue mode (6) and its seeds */

static int seed_target(const void *arg, size_t len)
{
    (void)arg;
    return (int)len;
}

static void put_result(mproc__wr *w, uint64_t id, uint32_t count, int code)
{
    size_t start = mproc__wr_frame_begin(w, MPROC__MSG_RESULT);
    uint32_t i;
    mproc__wr_u64(w, id);
    mproc__wr_u32(w, 0); /* first */
    mproc__wr_u32(w, count);
    for (i = 0; i < count; i++) {
        static const char msg[] = "task returned 7";
        mproc__wr_u32(w, (uint32_t)code);
        mproc__wr_u32(w, code == MPROC_ETASK ? 7 : 0);
        if (code == MPROC_OK)
            mproc__wr_blob(w, &i, sizeof i);
        else
            mproc__wr_blob(w, msg, sizeof msg - 1);
    }
    CHECK(mproc__wr_frame_end(w, start) == MPROC_OK);
}

static void put_bell(mproc__wr *w)
{
    size_t start = mproc__wr_frame_begin(w, MPROC__MSG_BELL);
    CHECK(mproc__wr_frame_end(w, start) == MPROC_OK);
}

/* A ring holding three answers, written by the worker's own mproc__ring_put from position
 * `at`, saved as mode 4 reads it: items per task, tasks in flight, tail, head - tail, bytes. */
static void seed_ring(const char *dir, const char *name, uint32_t at)
{
    mproc__ring *ring = ring_new();
    mproc__buf frames = {0}, seed = {0};
    mproc__wr w;
    uint32_t i, used;
    int bell;

    memset(ring, 0, sizeof *ring);
    ring->head = ring->tail = at;
    w.b = &frames;
    w.err = 0;
    for (i = 1; i <= 3; i++) {
        frames.len = frames.pos = 0;
        put_result(&w, i, 2, i == 2 ? MPROC_ETASK : MPROC_OK);
        CHECK(mproc__ring_put(ring, frames.data, frames.len, 0, &bell) == 1);
    }
    used = ring->head - at;
    w.b = &seed;
    mproc__wr_u8(&w, 2);
    mproc__wr_u8(&w, 3);
    mproc__wr_u32(&w, at);
    mproc__wr_u32(&w, used);
    for (i = 0; i < used; i++)
        mproc__wr_u8(&w, ring->data[(at + i) % MPROC__RING_BYTES]);
    CHECK(w.err == 0);
    write_seed(dir, name, MODE_RING, &seed);
    mproc__buf_free(&frames);
    mproc__buf_free(&seed);
    free(ring);
}

static void put_boot_body(mproc__wr *w, int kind, mproc__fn target, const char *arg)
{
    int st = MPROC_OK;
    const char *name = kind == MPROC__BOOT_WORKER ? "PoolWorker" : "Process-1";
    mproc__wr_u8(w, (uint8_t)kind);
    mproc__wr_u8(w, kind == MPROC__BOOT_WORKER);
    mproc__wr_u32(w, kind == MPROC__BOOT_WORKER ? 3 : 0);
    mproc__wr_u64(w, 4242);
    mproc__wr_blob(w, name, strlen(name));
    mproc__wr_fn(w, target, &st);
    mproc__wr_blob(w, arg, strlen(arg));
    mproc__wr_fn(w, NULL, &st);
    mproc__wr_blob(w, "init", 4);
    CHECK(st == MPROC_OK);
}

static void put_worker_stream(mproc__wr *w)
{
    int st = MPROC_OK;
    size_t start;
    static const unsigned char items[8] = {1, 0, 0, 0, 2, 0, 0, 0};

    /* A function the worker cannot resolve ("none"), then tasks naming it and one unknown id:
     * every item is answered with MPROC_ENOFUNC, and nothing runs. */
    start = mproc__wr_frame_begin(w, MPROC__MSG_DEFINE);
    mproc__wr_u64(w, 7);
    mproc__wr_fn(w, NULL, &st);
    CHECK(mproc__wr_frame_end(w, start) == MPROC_OK);
    start = mproc__wr_frame_begin(w, MPROC__MSG_TASK);
    mproc__wr_u64(w, 1);
    mproc__wr_u64(w, 7);
    mproc__wr_u32(w, 0); /* tag */
    mproc__wr_u32(w, 0); /* first */
    mproc__wr_u32(w, 2);
    mproc__wr_u64(w, 4);
    mproc__wr_bytes(w, items, sizeof items);
    CHECK(mproc__wr_frame_end(w, start) == MPROC_OK);
    start = mproc__wr_frame_begin(w, MPROC__MSG_TASK);
    mproc__wr_u64(w, 2);
    mproc__wr_u64(w, 9);
    mproc__wr_u32(w, 3); /* tag */
    mproc__wr_u32(w, 5); /* first */
    mproc__wr_u32(w, 1);
    mproc__wr_u64(w, 0);
    CHECK(mproc__wr_frame_end(w, start) == MPROC_OK);
    CHECK(st == MPROC_OK && w->err == 0);
}

static void write_seeds(const char *dir)
{
    mproc__buf b = {0};
    mproc__wr w;
    size_t start;

    w.b = &b;
    w.err = 0;

    /* 0: answers as the parent reads them from the pipe (items per task, tasks in flight,
     * then frames), in and out of order, with a doorbell among them. */
    mproc__wr_u8(&w, 1);
    mproc__wr_u8(&w, 3);
    put_result(&w, 1, 1, MPROC_OK);
    put_result(&w, 3, 1, MPROC_ETASK);
    put_bell(&w);
    put_result(&w, 2, 1, MPROC_ENOFUNC);
    write_seed(dir, "results-single", MODE_RESULTS, &b);
    b.len = 0;
    mproc__wr_u8(&w, 3);
    mproc__wr_u8(&w, 2);
    put_result(&w, 1, 3, MPROC_OK);
    put_result(&w, 2, 3, MPROC_ETOOBIG);
    write_seed(dir, "results-chunks", MODE_RESULTS, &b);
    b.len = 0;
    mproc__wr_u8(&w, 1);
    mproc__wr_u8(&w, 1);
    put_result(&w, 1, 1, MPROC_OK);
    b.len -= 3; /* cut short */
    write_seed(dir, "results-truncated", MODE_RESULTS, &b);

    /* 4: rings as a worker fills them (mproc__ring_put): from the start, and across the end
     * (a wrap mark, then the frame again from offset 0). */
    seed_ring(dir, "ring-start", 0);
    seed_ring(dir, "ring-wrap", MPROC__RING_BYTES - 24);
    seed_ring(dir, "ring-wrapped-counter", UINT32_MAX - 15);

    /* 5: a Pipe's stream: messages of 0, 5 and 70 000 bytes (a big one, cut short), as
     * mproc_pipe_send frames them. */
    {
        static unsigned char body[70000];
        unsigned char h[MPROC__PIPE_HEADER];
        b.len = 0;
        mproc__pipe_frame(h, MPROC__PIPE_PLAIN, 0);
        mproc__wr_bytes(&w, h, sizeof h);
        mproc__pipe_frame(h, MPROC__PIPE_PLAIN, 5);
        mproc__wr_bytes(&w, h, sizeof h);
        mproc__wr_bytes(&w, "hello", 5);
        write_seed(dir, "pipe-small", MODE_PIPE, &b);
        mproc__pipe_frame(h, MPROC__PIPE_PLAIN, sizeof body);
        mproc__wr_bytes(&w, h, sizeof h);
        mproc__wr_bytes(&w, body, 30000);
        write_seed(dir, "pipe-big-cut", MODE_PIPE, &b);
    }

    /* 7: a Pipe's ring holding a whole body of 5 bytes, across the ring's end; one cut short. */
    {
        b.len = 0;
        mproc__wr_u32(&w, 2);
        mproc__wr_u32(&w, MPROC__PRING_CAP - 3);
        mproc__wr_u32(&w, 4); /* a body of 5 */
        mproc__wr_bytes(&w, "hello", 5);
        write_seed(dir, "pipe-ring-whole", MODE_PIPE_RING, &b);
        b.len = 0;
        mproc__wr_u32(&w, 2);
        mproc__wr_u32(&w, MPROC__PRING_CAP - 3);
        mproc__wr_u32(&w, 99);
        mproc__wr_bytes(&w, "hello", 5);
        write_seed(dir, "pipe-ring-cut", MODE_PIPE_RING, &b);
    }

    /* 1: BOOT bodies. */
    b.len = 0;
    put_boot_body(&w, MPROC__BOOT_PROCESS, (mproc__fn)seed_target, "argument bytes");
    write_seed(dir, "boot-process", MODE_BOOT, &b);
    b.len = 0;
    put_boot_body(&w, MPROC__BOOT_WORKER, NULL, "");
    write_seed(dir, "boot-worker", MODE_BOOT, &b);
    {
        /* With two objects handed over (a block, a pipe end), as share.c writes them. */
        mproc__share_list l;
        mproc__share_rec recs[2];
        memset(recs, 0, sizeof recs);
        recs[0].kind = MPROC__SHARE_SHM;
        recs[0].nh = 1;
        recs[0].h[0] = 7;
        recs[0].blob_len = 8;
        mproc__put_u64(recs[0].blob, 4096);
        recs[1].kind = MPROC__SHARE_PIPE;
        recs[1].nh = 2;
        recs[1].h[0] = 9;
        recs[1].h[1] = 12;
        l.n = 2;
        l.recs = recs;
        b.len = 0;
        put_boot_body(&w, MPROC__BOOT_PROCESS, (mproc__fn)seed_target, "shared");
        mproc__share_list_write(&w, &l);
        write_seed(dir, "boot-shares", MODE_BOOT, &b);
    }

    /* 2: reads (u8, u32, u64, bytes 2, blob, fnref) over a small buffer. */
    b.len = 0;
    {
        static const unsigned char ops[] = {6, 0, 1, 2, 3 | 2 << 3, 4, 5};
        static const unsigned char data[] = {
            9, 1, 0,   0,   0,   2, 0, 0, 0, 0,    0,    0,    0,    'a',  'b',  3,    0,
            0, 0, 'x', 'y', 'z', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        mproc__wr_bytes(&w, ops, sizeof ops);
        mproc__wr_bytes(&w, data, sizeof data);
    }
    write_seed(dir, "reader", MODE_READER, &b);

    /* 3: a forked worker's input, and a spawned worker's (BOOT first). */
    b.len = 0;
    put_worker_stream(&w);
    write_seed(dir, "worker-fork", MODE_WORKER, &b);
    b.len = 0;
    start = mproc__wr_frame_begin(&w, MPROC__MSG_BOOT);
    put_boot_body(&w, MPROC__BOOT_WORKER, NULL, "");
    CHECK(mproc__wr_frame_end(&w, start) == MPROC_OK);
    put_worker_stream(&w);
    write_seed(dir, "worker-spawn", MODE_WORKER, &b);

    CHECK(w.err == 0);
    mproc__buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("MPROC_FUZZ_WRITE_SEEDS");
    (void)argc;
    (void)argv;
    if (dir != NULL && dir[0] != '\0') {
        write_seeds(dir);
        write_queue_seeds(dir);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % MODE_COUNT) {
    case MODE_RESULTS:
        fuzz_results(data + 1, size - 1);
        break;
    case MODE_BOOT:
        fuzz_boot(data + 1, size - 1);
        break;
    case MODE_READER:
        fuzz_reader(data + 1, size - 1);
        break;
    case MODE_RING:
        fuzz_ring(data + 1, size - 1);
        break;
    case MODE_PIPE:
        fuzz_pipe(data + 1, size - 1);
        break;
    case MODE_QUEUE:
        fuzz_queue(data + 1, size - 1);
        break;
    case MODE_PIPE_RING:
        fuzz_pipe_ring(data + 1, size - 1);
        break;
    default:
        fuzz_worker(data + 1, size - 1);
        break;
    }
    return 0;
}
