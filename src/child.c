/* The entry of a spawned child: decode the bootstrap record, then be a process or a worker. */
#include "child.h"
#include "ipc/share.h"
#include "pool/ring.h"
#include "wire.h"
#include "pool/worker.h"

#include <string.h>

static void send_ack(mproc__handle out, int32_t status)
{
    unsigned char b[4];
    uint32_t v = (uint32_t)status;
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
    (void)mproc__os_write_all(out, b, sizeof b);
}

/* Takes up the objects the record hands this child: keeps their handles (closing everything
 * else it inherited but the channel) and rebuilds them. MPROC_OK or the first failure. */
static int take_shares(const mproc__boot *boot)
{
    mproc__share_list l;
    mproc__handle *h = NULL;
    size_t n = 0;
    int r = mproc__share_list_decode(boot->shares, boot->shares_len, &l);

    if (r < 0) {
        (void)mproc__os_child_clean(NULL, 0);
        return r;
    }
    if (l.n > 0) {
        h = mproc__malloc(l.n * MPROC__SHARE_MAX_HANDLES * sizeof *h);
        if (h == NULL) {
            r = MPROC_ENOMEM;
            goto finish;
        }
        n = mproc__share_list_handles(&l, h);
    }
    r = mproc__os_child_clean(h, n);
    if (r == MPROC_OK)
        r = mproc__share_child_begin(&l);

finish:
    mproc__free(h);
    mproc__share_list_free(&l);
    return r;
}

static void run_process(const mproc__boot *boot, mproc__buf *b, mproc__handle in, mproc__handle out)
{
    mproc__fn fn = NULL;
    void *arg = NULL;
    size_t arg_len = boot->arg_len;
    int rc;

    if (mproc__fn_resolve(&boot->target, &fn) < 0 || fn == NULL) {
        send_ack(out, MPROC_ENOFUNC);
        mproc__os_exit(MPROC__EXIT_BOOT);
    }
    /* The record's bytes sit at any offset of the read buffer; the target gets a malloc'd,
     * hence aligned, copy. */
    if (arg_len > 0) {
        arg = mproc__malloc(arg_len);
        if (arg == NULL) {
            send_ack(out, MPROC_ENOMEM);
            mproc__os_exit(MPROC__EXIT_BOOT);
        }
        memcpy(arg, boot->arg, arg_len);
    }
    rc = take_shares(boot);
    if (rc < 0) {
        send_ack(out, rc);
        mproc__os_exit(MPROC__EXIT_BOOT);
    }
    send_ack(out, MPROC_OK);
    mproc__os_close(in);
    mproc__buf_free(b);
    /* The channel stays open for one more report: the target's return value, sent before the
     * exit, so the parent still knows it when the OS status is gone (SIGCHLD ignored, or
     * reaped by the application). */
    rc = ((mproc_target)fn)(arg, arg_len);
    send_ack(out, rc);
    mproc__os_close(out);
    mproc__os_exit(rc);
}

static void run_worker(const mproc__boot *boot, mproc__buf *b, size_t boot_len, mproc__handle in,
                       mproc__handle out, mproc__handle extra)
{
    mproc__worker_cfg cfg;
    mproc__shm shm;
    mproc__fn init = NULL;
    void *initarg = NULL;

    if (mproc__fn_resolve(&boot->init, &init) < 0 || take_shares(boot) < 0)
        mproc__os_exit(MPROC__EXIT_BOOT);
    if (boot->initarg_len > 0) {
        initarg = mproc__malloc(boot->initarg_len);
        if (initarg == NULL)
            mproc__os_exit(MPROC__EXIT_BOOT);
        memcpy(initarg, boot->initarg, boot->initarg_len);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.in = in;
    cfg.out = out;
    cfg.in_buf = b;
    cfg.init = (mproc_initializer)init;
    cfg.initarg = initarg;
    cfg.initarg_len = boot->initarg_len;
    cfg.max_tasks = boot->max_tasks;
    /* Without the shared ring the pipe carries every answer: slower, never wrong. */
    if (extra != MPROC__INVALID_HANDLE &&
        mproc__os_shm_attach(&shm, extra, sizeof(mproc__ring)) == MPROC_OK)
        cfg.ring = shm.addr;
    /* Tasks may already follow the record in the buffer: keep them, drop the record. */
    mproc__buf_consume(b, boot_len);
    mproc__os_exit(mproc__worker_main(&cfg));
}

void mproc__child_main(mproc__handle in, mproc__handle out, mproc__handle extra)
{
    mproc__buf b = {0};
    mproc__boot boot;
    const unsigned char *body;
    size_t body_len, total;
    int type;

    if (mproc__wire_read_frame(in, &b, &type, &body, &body_len, &total) != 1 ||
        type != MPROC__MSG_BOOT || mproc__boot_decode(body, body_len, &boot) < 0)
        mproc__os_exit(MPROC__EXIT_BOOT);
    mproc__os_child_setup(boot.daemon, boot.parent_pid);
    if (boot.kind == MPROC__BOOT_PROCESS)
        run_process(&boot, &b, in, out);
    else
        run_worker(&boot, &b, total, in, out, extra);
}
