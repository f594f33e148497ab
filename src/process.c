/* The Process front end: argument checks, the created -> started -> joined state machine and
 * the bootstrap of a spawned child. The OS work is the backend's (mproc__os_*). */
#include "ipc/share.h"
#include "runtime.h"
#include "sync/waitable.h"
#include "testhooks.h"
#include "wire.h"

#include <stdio.h>
#include <string.h>

enum { CREATED, STARTED, JOINED };

struct mproc_process {
    mproc_target target;
    unsigned char *arg; /* malloc'd, so aligned for any type */
    size_t arg_len;
    char *name;
    mproc_start_method method;
    int daemon;
    int state;
    long creator_pid; /* a fork's copy of the object is refused (MPROC_EFOREIGN) */
    mproc__proc os;
    /* The exit status, settled once by whichever join saw the child end first (under mu, which
     * also guards state once started: several threads may join, poll and signal at once). */
    mproc__mutex *mu;
    int code;       /* the exit code, when known */
    int code_known; /* 0: the status was taken by someone else and the child sent no report */
    /* Read end of the channel the child reports its return value over before it exits: the
     * exit code that is left when the OS status is gone. */
    mproc__handle report;
    mproc__handle report_wr; /* its write end, while a fork start is under way */
    /* The objects the child gets (with handles of the process's own), until the start. */
    mproc__share_list shares;
    mproc_waitable w; /* what mproc_process_waitable() hands out (sync/wait.c) */
};

/* The child's report: its target's return value, 4 bytes little-endian (the spawn child's ack
 * has the same form, so one pipe carries both). */
static void put_i32(unsigned char *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    b[0] = (unsigned char)u;
    b[1] = (unsigned char)(u >> 8);
    b[2] = (unsigned char)(u >> 16);
    b[3] = (unsigned char)(u >> 24);
}

static int32_t get_i32(const unsigned char *b)
{
    return (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24);
}

/* 1 in a process other than the one that created p: a copy inherited through the application's
 * fork, whose child belongs to the creator. */
static int foreign(const mproc_process *p)
{
    return p->creator_pid != mproc__os_getpid();
}

/* Default names count up across the run, as Python's "Process-N". A benign race between two
 * threads creating processes at once could repeat a number; names are labels, not keys. */
static unsigned long name_counter;

int mproc_process_create(mproc_process **out, mproc_target target, const void *arg, size_t arg_len)
{
    mproc_process_options o;
    memset(&o, 0, sizeof o);
    o.target = target;
    o.arg = arg;
    o.arg_len = arg_len;
    return mproc_process_create_ex(out, &o);
}

int mproc_process_create_ex(mproc_process **out, const mproc_process_options *opts)
{
    mproc_process *p = NULL;
    char defname[32];
    int r;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (opts == NULL || opts->target == NULL || (opts->arg == NULL && opts->arg_len > 0))
        return MPROC_EINVAL;
    if (opts->arg_len > MPROC__WIRE_MAX_ITEM)
        return MPROC_ETOOBIG;
    if ((opts->share == NULL && opts->share_count > 0) ||
        opts->share_count > MPROC__SHARE_MAX_OBJECTS)
        return MPROC_EINVAL;
    /* MPROC_START_METHOD is read at start: it may change until then. */
    if (!mproc__method_valid(opts->start_method))
        return MPROC_EINVAL;

    p = mproc__calloc(1, sizeof *p);
    if (p == NULL)
        return MPROC_ENOMEM;
    p->os.h = p->os.aux = MPROC__INVALID_HANDLE;
    p->report = p->report_wr = MPROC__INVALID_HANDLE;
    p->target = opts->target;
    p->method = opts->start_method;
    p->daemon = opts->daemon != 0;
    p->creator_pid = mproc__os_getpid();
    p->arg_len = opts->arg_len;
    p->arg = mproc__malloc(opts->arg_len);
    if (opts->name == NULL) {
        sprintf(defname, "Process-%lu", ++name_counter);
        p->name = mproc__strdup(defname);
    } else {
        p->name = mproc__strdup(opts->name);
    }
    if (p->arg == NULL || p->name == NULL || mproc__os_mutex_create(&p->mu) < 0) {
        mproc_process_destroy(p);
        return MPROC_ENOMEM;
    }
    if (opts->arg_len > 0)
        memcpy(p->arg, opts->arg, opts->arg_len);
    r = mproc__share_list_make(&p->shares, opts->share, opts->share_count);
    if (r < 0) {
        mproc_process_destroy(p);
        return r;
    }
    *out = p;
    return MPROC_OK;
}

/* In the forked child: runs the target, then reports its return value before exiting (the
 * report's write end is the one descriptor of ours the child keeps, as child_out). Always,
 * even where a pidfd keeps the status (Linux 6.15+): the pidfd is opened after the fork, and an
 * application that reaps with waitpid(-1) may take a child that ends at once before that. */
static int fork_main(void *ctx)
{
    mproc_process *p = ctx;
    unsigned char b[4];
    int rc;
    /* The objects handed down (only their descriptors survived the fork), and none of what a
     * table this process inherited named. */
    if (mproc__share_child_begin(&p->shares) < 0)
        return MPROC__EXIT_SHARE;
    rc = p->target(p->arg_len ? p->arg : NULL, p->arg_len);
    put_i32(b, rc);
    (void)mproc__os_write_all(p->report_wr, b, sizeof b);
    return rc;
}

static int encode_boot(const mproc_process *p, mproc__buf *b)
{
    mproc__wr w;
    size_t start;
    int fnstatus = MPROC_OK;

    w.b = b;
    w.err = 0;
    start = mproc__wr_frame_begin(&w, MPROC__MSG_BOOT);
    mproc__wr_u8(&w, MPROC__BOOT_PROCESS);
    mproc__wr_u8(&w, p->daemon ? MPROC__DAEMON_PROCESS : MPROC__DAEMON_NONE);
    mproc__wr_u32(&w, 0);
    mproc__wr_u64(&w, (uint64_t)(int64_t)mproc__os_getpid());
    mproc__wr_blob(&w, p->name, strlen(p->name));
    mproc__wr_fn(&w, (mproc__fn)p->target, &fnstatus);
    mproc__wr_blob(&w, p->arg, p->arg_len);
    mproc__wr_fn(&w, NULL, &fnstatus);
    mproc__wr_blob(&w, NULL, 0);
    mproc__share_list_write(&w, &p->shares);
    if (fnstatus < 0)
        return fnstatus;
    return mproc__wr_frame_end(&w, start);
}

/* Spawn: the child reads its bootstrap record from one pipe and answers on another once it has
 * found its target, so a function it cannot resolve fails start() with MPROC_ENOFUNC instead of
 * surfacing later as a bare exit code. */
static int start_spawn(mproc_process *p, mproc__spawn_spec *spec, const mproc__handle *share,
                       size_t nshare)
{
    mproc__handle boot_rd = MPROC__INVALID_HANDLE, boot_wr = MPROC__INVALID_HANDLE;
    mproc__handle ack_rd = MPROC__INVALID_HANDLE, ack_wr = MPROC__INVALID_HANDLE;
    mproc__buf b = {0};
    unsigned char ack[4];
    size_t got = 0;
    int r;

    r = encode_boot(p, &b);
    if (r < 0)
        goto finish;
    r = mproc__os_pipe(&boot_rd, &boot_wr);
    if (r < 0)
        goto finish;
    r = mproc__os_pipe(&ack_rd, &ack_wr);
    if (r < 0)
        goto finish;
    spec->child_in = boot_rd;
    spec->child_out = ack_wr;
    r = mproc__os_spawn_shared(spec, share, nshare, &p->os);
    mproc__os_close(boot_rd);
    mproc__os_close(ack_wr);
    boot_rd = ack_wr = MPROC__INVALID_HANDLE;
    if (r < 0)
        goto finish;

    /* A child that dies before reading everything makes the write fail; its exit code then
     * tells the story, as for any child that dies early. */
    (void)mproc__os_write_all(boot_wr, b.data, b.len);
    mproc__os_close(boot_wr);
    boot_wr = MPROC__INVALID_HANDLE;
    while (got < sizeof ack) {
        long n = mproc__os_read(ack_rd, ack + got, sizeof ack - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == sizeof ack) {
        int32_t status = get_i32(ack);
        if (status < 0) {
            mproc__os_wait(&p->os, MPROC_FOREVER);
            mproc__os_proc_close(&p->os);
            memset(&p->os, 0, sizeof p->os);
            p->os.h = p->os.aux = MPROC__INVALID_HANDLE;
            r = status >= MPROC__ERRNO_LAST ? status : MPROC_EPROTO;
        }
    }
    if (r == MPROC_OK) {
        /* The child keeps its end to report its return value as it exits. */
        p->report = ack_rd;
        ack_rd = MPROC__INVALID_HANDLE;
    }

finish:
    mproc__os_close(boot_rd);
    mproc__os_close(boot_wr);
    mproc__os_close(ack_rd);
    mproc__os_close(ack_wr);
    mproc__buf_free(&b);
    return r;
}

int mproc_process_start(mproc_process *p)
{
    mproc__spawn_spec spec;
    mproc__handle *share = NULL;
    size_t nshare = 0;
    int method, r;

    if (p == NULL)
        return MPROC_EINVAL;
    if (foreign(p))
        return MPROC_EFOREIGN;
    if ((r = mproc__start_allowed()) < 0)
        return r;
    if (p->state != CREATED)
        return MPROC_ESTATE;
    r = mproc__resolve_method(p->method, &method);
    if (r < 0)
        return r;
    /* MPI ranks serve pools only (create refuses MPROC_START_MPI): MPROC_START_METHOD=mpi for
     * a whole run leaves processes to the OS default. */
    if (method == MPROC_START_MPI)
        method = mproc__os_default_method();
    /* The same check under every method: a target that is not code of a loaded module would
     * crash a fork child, and a spawned one could not find it. */
    r = mproc__fn_check((mproc__fn)p->target);
    if (r < 0)
        return r;

    if (p->shares.n > 0) {
        share = mproc__malloc(p->shares.n * MPROC__SHARE_MAX_HANDLES * sizeof *share);
        if (share == NULL)
            return MPROC_ENOMEM;
        nshare = mproc__share_list_handles(&p->shares, share);
    }
    memset(&spec, 0, sizeof spec);
    spec.method = method;
    spec.daemon = p->daemon ? MPROC__DAEMON_PROCESS : MPROC__DAEMON_NONE;
    spec.child_in = spec.child_out = spec.child_extra = MPROC__INVALID_HANDLE;
    if (method == MPROC_START_FORK) {
        r = mproc__os_pipe(&p->report, &p->report_wr);
        if (r < 0) {
            mproc__free(share);
            return r;
        }
        spec.fork_main = fork_main;
        spec.fork_ctx = p;
        spec.child_out = p->report_wr;
        r = mproc__os_spawn_shared(&spec, share, nshare, &p->os);
        /* Only the child may hold the write end, or a lost status would wait for nothing. */
        mproc__os_close(p->report_wr);
        p->report_wr = MPROC__INVALID_HANDLE;
    } else {
        r = start_spawn(p, &spec, share, nshare);
    }
    mproc__free(share);
    if (r < 0) {
        mproc__os_close(p->report);
        p->report = MPROC__INVALID_HANDLE;
        return r;
    }
    /* The child holds what it was handed now: the parent's own holds are its objects'. */
    mproc__share_list_free(&p->shares);
    p->state = STARTED;
    return MPROC_OK;
}

static int get_state(const mproc_process *p)
{
    int s;
    mproc__os_mutex_lock(p->mu);
    s = p->state;
    mproc__os_mutex_unlock(p->mu);
    return s;
}

/* After a wait saw the child end: fixes the exit code once, for every thread that asks. The OS
 * status when there is one; else the child's own report of its return value (by the same & 255
 * rule as an exit status); else nothing is known. */
static void settle(mproc_process *p)
{
    mproc__os_mutex_lock(p->mu);
    if (p->state == STARTED) {
        if (!p->os.status_lost) {
            p->code = p->os.exitcode;
            p->code_known = 1;
        } else {
            unsigned char b[4];
            size_t got = 0;
            long n;
            while (got < sizeof b &&
                   (n = mproc__os_read_ready(p->report, b + got, sizeof b - got)) > 0)
                got += (size_t)n;
            p->code_known = got == sizeof b;
            p->code = p->code_known ? (int)(get_i32(b) & 0xff) : 0;
        }
        mproc__os_close(p->report);
        p->report = MPROC__INVALID_HANDLE;
        p->state = JOINED;
    }
    mproc__os_mutex_unlock(p->mu);
}

int mproc_process_join(mproc_process *p, long timeout_ms)
{
    int r;
    int s;
    if (p == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if (foreign(p))
        return MPROC_EFOREIGN;
    s = get_state(p);
    if (s == CREATED)
        return MPROC_ESTATE;
    if (s == JOINED)
        return MPROC_OK;
    r = mproc__os_wait(&p->os, timeout_ms);
    if (r == MPROC_OK)
        settle(p);
    return r;
}

int mproc_process_is_alive(mproc_process *p)
{
    if (p == NULL || foreign(p) || get_state(p) != STARTED)
        return 0;
    /* Polling reaps a child that has ended, as Python's is_alive() does. */
    if (mproc__os_wait(&p->os, 0) == MPROC_OK) {
        settle(p);
        return 0;
    }
    return 1;
}

static int send_signal(mproc_process *p, int hard)
{
    int s;
    if (p == NULL)
        return MPROC_EINVAL;
    if (foreign(p))
        return MPROC_EFOREIGN;
    s = get_state(p);
    if (s == CREATED)
        return MPROC_ESTATE;
    if (s == JOINED)
        return MPROC_OK;
    return mproc__os_signal(&p->os, hard);
}

int mproc_process_terminate(mproc_process *p)
{
    return send_signal(p, 0);
}

int mproc_process_kill(mproc_process *p)
{
    return send_signal(p, 1);
}

int mproc_process_exitcode(const mproc_process *p, int *code)
{
    int r = MPROC_OK;
    if (p == NULL || code == NULL)
        return MPROC_EINVAL;
    if (foreign(p))
        return MPROC_EFOREIGN;
    mproc__os_mutex_lock(p->mu);
    if (p->state != JOINED)
        r = MPROC_ESTATE;
    else if (!p->code_known)
        r = MPROC_ENOSTATUS;
    else
        *code = p->code;
    mproc__os_mutex_unlock(p->mu);
    return r;
}

long mproc_process_pid(const mproc_process *p)
{
    return p != NULL && p->state != CREATED ? p->os.pid : 0;
}

const char *mproc_process_name(const mproc_process *p)
{
    return p != NULL ? p->name : NULL;
}

void mproc_process_destroy(mproc_process *p)
{
    long saved;
    if (p == NULL)
        return;
    saved = mproc__os_errno();
    /* A fork's copy frees its memory and descriptors only: the child is the creator's. */
    if (p->state == STARTED && !foreign(p) && mproc__os_wait(&p->os, 0) != MPROC_OK) {
        mproc__os_signal(&p->os, 1);
        mproc__os_wait(&p->os, MPROC_FOREVER);
    }
    if (p->state != CREATED)
        mproc__os_proc_close(&p->os);
    mproc__os_close(p->report);
    /* A fork's copy: the list's descriptors were closed at the fork, their numbers may be
     * another's now. */
    if (foreign(p)) {
        size_t i;
        for (i = 0; i < p->shares.n; i++)
            p->shares.recs[i].nh = 0;
    }
    mproc__share_list_free(&p->shares);
    mproc__os_mutex_destroy(p->mu);
    mproc__free(p->arg);
    mproc__free(p->name);
    mproc__free(p);
    mproc__os_restore_errno(saved);
}

/* ---- mproc_wait(): ready once the child has ended (see sync/waitable.h) ---- */

static int waitable_ready(void *obj);
static mproc__handle waitable_begin(void *obj);
static const mproc__waitable_kind process_kind = {
    "process", waitable_ready, waitable_begin, NULL, 0, 0, NULL};
/* An exit pipe may be held open by a grandchild after the child ended: look again anyway, as
 * mproc__os_wait does. */
static const mproc__waitable_kind process_kind_pipe = {
    "process", waitable_ready, waitable_begin, NULL, 0, 200, NULL};

static int waitable_ready(void *obj)
{
    mproc_process *p = obj;
    int s;
    if (foreign(p))
        return MPROC_EFOREIGN;
    s = get_state(p);
    if (s != STARTED)
        return s == JOINED;
    if (p->os.h == MPROC__INVALID_HANDLE && p->os.aux != MPROC__INVALID_HANDLE)
        p->w.kind = &process_kind_pipe; /* made before the start: mproc_wait reads it after */
    return !mproc_process_is_alive(p);
}

/* The pidfd or process handle, else the exit pipe (POSIX without pidfd). */
static mproc__handle waitable_begin(void *obj)
{
    mproc_process *p = obj;
    if (get_state(p) != STARTED)
        return MPROC__INVALID_HANDLE;
    return p->os.h != MPROC__INVALID_HANDLE ? p->os.h : p->os.aux;
}

mproc_waitable *mproc_process_waitable(mproc_process *p)
{
    if (p == NULL)
        return NULL;
    return mproc__waitable_init(
        &p->w,
        p->os.h == MPROC__INVALID_HANDLE && p->os.aux != MPROC__INVALID_HANDLE ? &process_kind_pipe
                                                                               : &process_kind,
        p);
}
