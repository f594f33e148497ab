/* The byte format of everything that crosses a process boundary. One place to bound-check,
 * fuzz and version. All integers are little-endian, whatever the host.
 *
 * A frame: u32 body length, u8 type, u8 version, u16 zero, then the body.
 *   BOOT   (parent -> spawned child) u8 kind, u8 daemon, u32 max_tasks, i64 parent pid,
 *          str name, fnref target, blob arg, fnref initializer, blob initarg, then the
 *          objects handed to the child: u32 count, count x (u8 kind, u8 n, n x u64 handle, blob)
 *          (src/ipc/share.c; absent means none)
 *   DEFINE (parent -> spawned worker) u64 fn id, fnref
 *   TASK   (parent -> worker) u64 task id, u64 fn id, u32 tag, u32 first, u32 count,
 *          u64 item size, count items: items first .. first+count-1 of the task. A task whose
 *          items do not fit one frame travels in several; tag names the iterator it belongs to
 *          (0: none), so the worker can skip it once the iterator is gone (ring.h).
 *   RESULT (worker -> parent) u64 task id, u32 first, u32 count, count x (i32 code, i32 status,
 *          blob): the answers to items first .. first+count-1. A worker answers each item on
 *          its own as it finishes, so a chunk's answers are as many frames as it has items.
 *   BELL   (worker -> parent) empty: answers wait in the shared ring (ring.h)
 * str/blob: u32 length then bytes; fnref: str module, u64 offset (module "" with offset
 * UINT64_MAX means "no function"). */
#ifndef MPROC_WIRE_H
#define MPROC_WIRE_H

#include "backend.h"

#define MPROC__WIRE_VERSION 2
#define MPROC__WIRE_HEADER 8
/* The largest argument or result: exactly the "1 GiB" mproc.h promises. Tests lower it
 * (mproc__wire_set_max_item) to show at a small scale what happens at the real one. One item
 * must fit one frame; a chunk need not (a chunk's items and answers take as many as they need). */
#define MPROC__WIRE_DEFAULT_MAX_ITEM ((size_t)1 << 30)
#define MPROC__WIRE_MAX_ITEM (mproc__wire_max_item)
/* The largest body either side accepts, larger being refused before anything is allocated: one
 * item of the largest size with room for the fields around it (a process's name, a module
 * path). */
#define MPROC__WIRE_MAX_BODY (mproc__wire_max_item + 65536)
extern size_t mproc__wire_max_item;

enum {
    MPROC__MSG_BOOT = 1,
    MPROC__MSG_DEFINE = 2,
    MPROC__MSG_TASK = 3,
    MPROC__MSG_RESULT = 4,
    MPROC__MSG_BELL = 5 /* empty: answers wait in the shared ring (ring.h) */
};

enum { MPROC__BOOT_PROCESS = 1, MPROC__BOOT_WORKER = 2 };

#define MPROC__NO_OFFSET UINT64_MAX
/* A DEFINE to a fork worker with no module and this offset: the function is at the parent's
 * address (the DEFINE's id) in the worker too. Any other worker finds nothing there. */
#define MPROC__SAME_ADDRESS (UINT64_MAX - 1)

/* A bounded reader over untrusted bytes: after any overrun, err is set and every later read
 * yields zeros, so decoders check once at the end. */
typedef struct mproc__rd {
    const unsigned char *p;
    size_t left;
    int err;
} mproc__rd;

void mproc__rd_init(mproc__rd *r, const void *data, size_t len);
uint8_t mproc__rd_u8(mproc__rd *r);
uint32_t mproc__rd_u32(mproc__rd *r);
uint64_t mproc__rd_u64(mproc__rd *r);
const unsigned char *mproc__rd_bytes(mproc__rd *r, size_t n);
/* A u32-length blob; *len receives its length. */
const unsigned char *mproc__rd_blob(mproc__rd *r, size_t *len);

/* Writers append to a buffer; on ENOMEM they set *err and do nothing further. */
typedef struct mproc__wr {
    mproc__buf *b;
    int err;
} mproc__wr;

void mproc__wr_u8(mproc__wr *w, uint8_t v);
void mproc__wr_u32(mproc__wr *w, uint32_t v);
void mproc__wr_u64(mproc__wr *w, uint64_t v);
void mproc__wr_bytes(mproc__wr *w, const void *data, size_t n);
void mproc__wr_blob(mproc__wr *w, const void *data, size_t n);
/* Starts a frame: returns where its header sits, counted from w->b's read cursor (appending may
 * compact the buffer, which moves the bytes but keeps that distance), for frame_end. */
size_t mproc__wr_frame_begin(mproc__wr *w, int type);
/* Writes the body length; ETOOBIG past MPROC__WIRE_MAX_BODY. */
int mproc__wr_frame_end(mproc__wr *w, size_t start);

void mproc__put_u64(unsigned char *p, uint64_t v);

/* Looks at the bytes at hand: 1 and the frame's type, body and total length when a whole frame
 * is there, 0 when more bytes are needed (*need is then the total length once known, else 0),
 * MPROC_EPROTO for a header no peer of ours would send. */
int mproc__wire_frame(const unsigned char *p, size_t avail, int *type, const unsigned char **body,
                      size_t *body_len, size_t *total, size_t *need);

/* A function reference as it travels. */
typedef struct mproc__fnref {
    const char *module;
    size_t module_len;
    uint64_t offset;
} mproc__fnref;

/* Encodes fn's location (or "none" for NULL): MPROC_ENOFUNC when the loader cannot place it. */
void mproc__wr_fn(mproc__wr *w, mproc__fn fn, int *status);
void mproc__rd_fn(mproc__rd *r, mproc__fnref *ref);
/* Resolves a decoded reference; *fn is NULL for "none". */
int mproc__fn_resolve(const mproc__fnref *ref, mproc__fn *fn);

/* The bootstrap record of a spawned child. */
typedef struct mproc__boot {
    int kind;
    int daemon;
    uint32_t max_tasks;
    long parent_pid;
    const char *name;
    size_t name_len;
    mproc__fnref target;
    const unsigned char *arg;
    size_t arg_len;
    mproc__fnref init;
    const unsigned char *initarg;
    size_t initarg_len;
    /* The objects handed to the child (src/ipc/share.c decodes them): every byte after
     * initarg. */
    const unsigned char *shares;
    size_t shares_len;
} mproc__boot;

int mproc__boot_decode(const unsigned char *body, size_t len, mproc__boot *b);

/* One item of a RESULT body. For a failure (code < 0) data is the message. */
typedef struct mproc__result_item {
    int code;
    int status;
    const unsigned char *data;
    size_t len;
} mproc__result_item;

/* The task a RESULT body answers (0 when too short to say). */
uint64_t mproc__result_task(const unsigned char *body, size_t len);

/* Checks a whole RESULT body from an untrusted worker: that it answers task `id`, items within
 * [0, count), at least one, every code a known one, nothing short or left over. Only then
 * calls each(ctx, i, item) for every item, in order, i counted from the task's first item.
 * MPROC_EPROTO (and no call) otherwise. */
int mproc__result_decode(const unsigned char *body, size_t len, uint64_t id, size_t count,
                         void (*each)(void *ctx, size_t i, const mproc__result_item *item),
                         void *ctx);

/* The header of a TASK body, checked against its length. */
typedef struct mproc__task_hdr {
    uint64_t id, fn;
    uint32_t tag, first, count;
    size_t item_size;
    const unsigned char *items; /* count x item_size bytes */
} mproc__task_hdr;

int mproc__task_decode(const unsigned char *body, size_t len, mproc__task_hdr *h);
/* Writes items first .. first+count-1 of a task as TASK frames, as many as they need. */
int mproc__task_write(mproc__wr *w, const mproc__task_hdr *h);

/* Reads one whole frame from a blocking handle into b (which may already hold bytes): 1 with
 * the frame at b->data + b->pos, 0 at a clean end of input, or a negative code. */
int mproc__wire_read_frame(mproc__handle h, mproc__buf *b, int *type, const unsigned char **body,
                           size_t *body_len, size_t *total);

#endif /* MPROC_WIRE_H */
