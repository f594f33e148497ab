/* mproc_bench's real-work figure: zlib compression of large items, serial and through map, imap
 * and apply_async, in one process; bench/python_baseline.py does the same bytes with Pool. */
#if !defined(_WIN32)
    #define _POSIX_C_SOURCE 200809L
#endif

#include "work.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MPROC_BENCH_ZLIB
    #include <zlib.h>
#endif
#if !defined(_WIN32)
    #include <sys/types.h>
    #include <sys/wait.h>
    #include <unistd.h>
#endif

#if defined(MPROC_BENCH_ZLIB) && defined(__linux__)
    #include <dirent.h>
    #include <unistd.h>

/* The CPU time and the time spent runnable but waiting for a CPU (another program's, on a
 * shared machine) of a process or thread, from /proc/.../schedstat, in seconds. The parent pid
 * from /proc/<pid>/stat when ppid is not NULL. 0 when readable. */
static int sched_times(const char *dir, double *cpu, double *wait, long *ppid)
{
    char path[300], buf[1024], *p;
    unsigned long long run = 0, rq = 0;
    FILE *f;
    size_t k;
    int ok;

    snprintf(path, sizeof path, "%s/schedstat", dir);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    ok = fscanf(f, "%llu %llu", &run, &rq) == 2;
    fclose(f);
    if (!ok)
        return -1;
    *cpu = (double)run * 1e-9;
    *wait = (double)rq * 1e-9;
    if (ppid == NULL)
        return 0;
    snprintf(path, sizeof path, "%s/stat", dir);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    p = strrchr(buf, ')'); /* the name may hold spaces */
    return p != NULL && sscanf(p + 2, "%*c %ld", ppid) == 1 ? 0 : -1;
}

/* CPU and run-queue wait of this process's threads (the caller, the pool's own threads summed)
 * and of its child processes (the pool's workers): where a call's wall time went. A worker's
 * wall time minus both is the time it sat with nothing to do. */
typedef struct cpu_snap {
    double caller[2], pool[2], worker[8][2];
    int nworkers;
} cpu_snap;

static void cpu_take(cpu_snap *c)
{
    char path[300];
    struct dirent *d;
    DIR *dir;
    long self = (long)getpid(), pp;
    double cpu, wait;

    memset(c, 0, sizeof *c);
    if ((dir = opendir("/proc/self/task")) != NULL) {
        while ((d = readdir(dir)) != NULL) {
            if (d->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/self/task/%s", d->d_name);
            if (sched_times(path, &cpu, &wait, NULL) != 0)
                continue;
            if (atol(d->d_name) == self) {
                c->caller[0] = cpu;
                c->caller[1] = wait;
            } else {
                c->pool[0] += cpu;
                c->pool[1] += wait;
            }
        }
        closedir(dir);
    }
    if ((dir = opendir("/proc")) != NULL) {
        while ((d = readdir(dir)) != NULL && c->nworkers < 8) {
            if (d->d_name[0] < '0' || d->d_name[0] > '9')
                continue;
            snprintf(path, sizeof path, "/proc/%s", d->d_name);
            if (sched_times(path, &cpu, &wait, &pp) == 0 && pp == self) {
                c->worker[c->nworkers][0] = cpu;
                c->worker[c->nworkers][1] = wait;
                c->nworkers++;
            }
        }
        closedir(dir);
    }
}

/* One note: what each side did during a call of `wall` seconds: CPU / waiting for a CPU. */
static void cpu_note(const char *call, const cpu_snap *a, const cpu_snap *b, double wall)
{
    int i;

    printf("# sched %s (wall %.3f s; cpu/runqueue-wait s): caller %.3f/%.3f, pool threads "
           "%.3f/%.3f",
           call, wall, b->caller[0] - a->caller[0], b->caller[1] - a->caller[1],
           b->pool[0] - a->pool[0], b->pool[1] - a->pool[1]);
    for (i = 0; i < b->nworkers && i < a->nworkers; i++)
        printf(", worker %d %.3f/%.3f (idle %.3f)", i, b->worker[i][0] - a->worker[i][0],
               b->worker[i][1] - a->worker[i][1],
               wall - (b->worker[i][0] - a->worker[i][0]) - (b->worker[i][1] - a->worker[i][1]));
    printf("\n");
}
#elif defined(MPROC_BENCH_ZLIB)
typedef struct cpu_snap {
    int unused;
} cpu_snap;
static void cpu_take(cpu_snap *c)
{
    c->unused = 0;
}
static void cpu_note(const char *call, const cpu_snap *a, const cpu_snap *b, double wall)
{
    (void)call;
    (void)a;
    (void)b;
    (void)wall;
}
#endif

/* The compression level: 1 gives 2-60 ms for 64 KiB-4 MiB items here (level 6 is 3x slower). */
#define WORK_LEVEL 1
#define BLOCK 65536u

#ifdef MPROC_BENCH_ZLIB

/* The item bytes, the same in python_baseline.py: a 64 KiB block of letters a-p from a 32-bit
 * xorshift, repeated, item i rotated by i * 4099 bytes. The period is twice zlib's window, so
 * the repetition saves zlib nothing; about 4 bits a byte, so results are ~58 % of the item. */
static void make_block(unsigned char *b)
{
    uint32_t x = 0x9E3779B9u;
    size_t j;

    for (j = 0; j < BLOCK; j++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[j] = (unsigned char)(97u + (x & 15u));
    }
}

static void make_item(unsigned char *dst, const unsigned char *block, size_t size, size_t i)
{
    size_t k = (i * 4099u) % BLOCK, off;

    for (off = 0; off < size; off += BLOCK) {
        size_t n = size - off < BLOCK ? size - off : BLOCK;
        /* rotated block: block[k..] then block[..k] */
        size_t first = BLOCK - k < n ? BLOCK - k : n;
        memcpy(dst + off, block + k, first);
        if (n > first)
            memcpy(dst + off + first, block, n - first);
    }
}

/* The worker's output buffer, grown once. */
static unsigned char *zbuf;
static size_t zcap;

/* def work(b): return zlib.compress(b, 1) */
static int zlib_task(const void *arg, size_t len, mproc_output *out)
{
    uLongf n = compressBound((uLong)len);

    if (zcap < n) {
        free(zbuf);
        zbuf = malloc(n);
        zcap = zbuf != NULL ? n : 0;
        if (zbuf == NULL)
            return 1;
    }
    if (compress2(zbuf, &n, arg, (uLong)len, WORK_LEVEL) != Z_OK)
        return 2;
    return mproc_output_set(out, zbuf, n) == MPROC_OK ? 0 : 3;
}

typedef struct expect {
    size_t count;
    unsigned char **data; /* the serial loop's outputs */
    size_t *len;
} expect;

static int same(const expect *e, size_t i, const void *data, size_t len)
{
    return i < e->count && len == e->len[i] && memcmp(data, e->data[i], len) == 0;
}

/* One serial loop over the items, into one reused buffer as a C caller writes it (only the
 * compress calls timed, into *t). The first pass stores the outputs, later ones check them. */
static int serial_pass(expect *e, const unsigned char *items, size_t size, double (*now)(void),
                       double *t)
{
    size_t i;
    double t0;
    int rc;

    *t = 0.0;
    for (i = 0; i < e->count; i++) {
        uLongf zn = compressBound((uLong)size);
        if (zcap < zn) {
            free(zbuf);
            zbuf = malloc(zn);
            zcap = zbuf != NULL ? zn : 0;
            if (zbuf == NULL)
                return -1;
        }
        t0 = now();
        rc = compress2(zbuf, &zn, items + i * size, (uLong)size, WORK_LEVEL);
        *t += now() - t0;
        if (rc != Z_OK)
            return -1;
        if (e->data[i] == NULL) {
            if ((e->data[i] = malloc(zn)) == NULL)
                return -1;
            memcpy(e->data[i], zbuf, zn);
            e->len[i] = zn;
        } else if (!same(e, i, zbuf, zn)) {
            return -1;
        }
    }
    return 0;
}

    #if !defined(_WIN32)
/* The machine's own ceiling for this work: `workers` forked processes compress the items
 * (item i in process i mod workers) with nothing passed between them: no pool, no pipe, no
 * copy. Its speedup over the serial loop is what two CPUs give this work here, before any
 * library: on a VM whose two CPUs share a core or a cache it stays well under 2. The wall
 * time, or -1. */
static double floor_parallel(const unsigned char *items, size_t size, size_t n, int workers,
                             double (*now)(void))
{
    pid_t pid[16];
    int k, started = 0, ok = 1, status;
    double t0;

    if (workers > 16)
        workers = 16;
    t0 = now();
    for (k = 0; k < workers; k++) {
        pid_t c = fork();
        if (c == 0) {
            size_t i;
            for (i = (size_t)k; i < n; i += (size_t)workers) {
                uLongf zn = (uLongf)zcap;
                if (compress2(zbuf, &zn, items + i * size, (uLong)size, WORK_LEVEL) != Z_OK)
                    _exit(1);
            }
            _exit(0);
        }
        if (c < 0) {
            ok = 0;
            break;
        }
        pid[started++] = c;
    }
    for (k = 0; k < started; k++)
        if (waitpid(pid[k], &status, 0) != pid[k] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            ok = 0;
    return ok ? now() - t0 : -1.0;
}
    #else
/* No fork: the Windows build has no such floor (the work figure is not taken under Wine). */
static double floor_parallel(const unsigned char *items, size_t size, size_t n, int workers,
                             double (*now)(void))
{
    (void)items;
    (void)size;
    (void)n;
    (void)workers;
    (void)now;
    return -1.0;
}
    #endif

static void emit_speedup(const char *call, size_t kib, double x)
{
    printf("work_%s_%luk\t%.3f\tx\n", call, (unsigned long)kib, x);
    fflush(stdout);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* What each call needs: the pool, the items and the serial outputs to check against. */
typedef struct work_ctx {
    mproc_pool *pool;
    const unsigned char *items;
    size_t size, n;
    expect *e;
    mproc_async **handles;
    double (*now)(void);
} work_ctx;

enum { CALL_MAP, CALL_IMAP, CALL_ASYNC, NCALLS };
static const char *const call_name[NCALLS] = {"map", "imap", "apply_async"};
static const char *const call_key[NCALLS] = {"map", "imap", "async"};

/* One call over every item, its results checked against the serial loop's: its wall time, or
 * -1. The notes say where the time went (Linux). */
static double run_call(work_ctx *w, int call)
{
    mproc_results *res = NULL;
    mproc_iter *it = NULL;
    const void *data;
    size_t len, index, i, got = 0;
    double t0, t = -1.0;
    cpu_snap c0, c1;
    int rc, ok = 1;

    cpu_take(&c0);
    t0 = w->now();
    if (call == CALL_MAP) {
        if (mproc_pool_map(w->pool, zlib_task, w->items, w->size, w->n, 1, &res) < 0)
            return -1.0;
        t = w->now() - t0;
        for (i = 0; i < w->n && ok; i++)
            ok = mproc_results_get(res, i, &data, &len) == MPROC_OK && same(w->e, i, data, len);
        mproc_results_destroy(res);
    } else if (call == CALL_IMAP) {
        if (mproc_pool_imap(w->pool, zlib_task, w->items, w->size, w->n, 1, &it) < 0)
            return -1.0;
        while (ok && (rc = mproc_iter_next(it, MPROC_FOREVER, &index, &data, &len)) != MPROC_EEND)
            ok = rc == MPROC_OK && index == got && same(w->e, got++, data, len);
        t = w->now() - t0;
        mproc_iter_destroy(it);
        ok = ok && got == w->n;
    } else {
        /* Python: [pool.apply_async(f, (x,)) for x in items], then .get() of each. */
        for (i = 0; i < w->n; i++)
            if (mproc_pool_apply_async(w->pool, zlib_task, w->items + i * w->size, w->size, NULL,
                                       NULL, NULL, &w->handles[i]) < 0) {
                while (i > 0)
                    mproc_async_release(w->handles[--i]);
                return -1.0;
            }
        for (i = 0; i < w->n; i++) {
            if (ok && (mproc_async_get(w->handles[i], MPROC_FOREVER, &data, &len) != MPROC_OK ||
                       !same(w->e, i, data, len)))
                ok = 0;
        }
        t = w->now() - t0;
        for (i = 0; i < w->n; i++) {
            mproc_async_release(w->handles[i]);
            w->handles[i] = NULL;
        }
    }
    cpu_take(&c1);
    if (!ok) {
        fprintf(stderr, "mproc_bench: work: a %s result differs\n", call_name[call]);
        return -1.0;
    }
    cpu_note(call_name[call], &c0, &c1, t);
    return t;
}

    /* Each call is timed WORK_REPS times, each time back to back with a serial pass and the
     * no-IPC floor, in an order that turns from one repetition to the next; a speedup is the
     * median of its repetitions' ratios. On this VM one serial pass differs from the next by up to
     * a third (the other vCPU's load, the host), so a ratio to a serial pass taken a call earlier
     * says as much about the machine as about the call. */
    #define WORK_REPS 3

int mproc_bench_fig_work(long kib, long count, int workers, double (*now)(void))
{
    size_t size = (size_t)kib << 10, n, i;
    unsigned char *items = NULL, block[BLOCK];
    expect e;
    mproc_results *res = NULL;
    work_ctx w;
    double ser[NCALLS][WORK_REPS], par[NCALLS][WORK_REPS], flo[NCALLS][WORK_REPS];
    double x_call[NCALLS][WORK_REPS], x_floor[NCALLS * WORK_REPS], x_vs[WORK_REPS],
        t_ser[NCALLS * WORK_REPS];
    int r = 1, c, k, step, have_floor = 1;

    if (kib <= 0)
        return 1;
    /* count 0: 24 MiB of items, at least 12 (6 a worker). */
    n = count > 0 ? (size_t)count : (size_t)24576 / (size_t)kib;
    if (n < 12)
        n = 12;
    memset(&e, 0, sizeof e);
    memset(&w, 0, sizeof w);
    e.count = n;
    items = malloc(n * size);
    e.data = calloc(n, sizeof *e.data);
    e.len = calloc(n, sizeof *e.len);
    w.handles = calloc(n, sizeof *w.handles);
    if (items == NULL || e.data == NULL || e.len == NULL || w.handles == NULL)
        goto finish;
    make_block(block);
    for (i = 0; i < n; i++)
        make_item(items + i * size, block, size, i);

    if (mproc_pool_create(&w.pool, workers) < 0)
        goto finish;
    w.items = items;
    w.size = size;
    w.n = n;
    w.e = &e;
    w.now = now;
    /* Warm-up: each worker's first task (its output buffer, the code paged in). */
    if (mproc_pool_map(w.pool, zlib_task, items, size, (size_t)workers, 1, &res) < 0)
        goto finish;
    mproc_results_destroy(res);
    res = NULL;
    /* The first serial pass keeps the outputs every call is checked against (and grows the
     * zlib buffer the floor's processes inherit). */
    if (serial_pass(&e, items, size, now, &ser[0][0]) != 0)
        goto finish;

    for (k = 0; k < WORK_REPS; k++)
        for (c = 0; c < NCALLS; c++)
            for (step = 0; step < 3; step++) {
                int what = (step + k + c) % 3; /* 0 serial, 1 floor, 2 the call */
                if (what == 0 && serial_pass(&e, items, size, now, &ser[c][k]) != 0)
                    goto finish;
                if (what == 1 && (flo[c][k] = floor_parallel(items, size, n, workers, now)) <= 0)
                    have_floor = 0;
                if (what == 2 && (par[c][k] = run_call(&w, c)) <= 0)
                    goto finish;
            }

    for (c = 0; c < NCALLS; c++)
        for (k = 0; k < WORK_REPS; k++) {
            x_call[c][k] = ser[c][k] / par[c][k];
            x_floor[c * WORK_REPS + k] = have_floor ? ser[c][k] / flo[c][k] : 0.0;
            t_ser[c * WORK_REPS + k] = ser[c][k];
        }
    printf("# work %luk: %lu items of %lu KiB, zlib level %d, %d workers, chunksize 1, %d "
           "repetitions of (serial, no-IPC floor, call) in turned orders\n",
           (unsigned long)kib, (unsigned long)n, (unsigned long)kib, WORK_LEVEL, workers,
           WORK_REPS);
    for (c = 0; c < NCALLS; c++) {
        printf("# work %luk %s:", (unsigned long)kib, call_name[c]);
        for (k = 0; k < WORK_REPS; k++)
            printf(" serial %.3f s, floor %.3f s, call %.3f s;", ser[c][k],
                   have_floor ? flo[c][k] : -1.0, par[c][k]);
        if (have_floor) {
            for (k = 0; k < WORK_REPS; k++)
                x_vs[k] = flo[c][k] / par[c][k];
            printf(" call vs floor, back to back: %.3f (median)", median_of(x_vs, WORK_REPS));
        }
        printf("\n");
    }
    printf("work_task_ms_%luk\t%.3f\tms\n", (unsigned long)kib,
           median_of(t_ser, NCALLS * WORK_REPS) / (double)n * 1e3);
    if (have_floor)
        emit_speedup("floor", (size_t)kib, median_of(x_floor, NCALLS * WORK_REPS));
    for (c = 0; c < NCALLS; c++)
        emit_speedup(call_key[c], (size_t)kib, median_of(x_call[c], WORK_REPS));
    r = 0;
finish:
    mproc_results_destroy(res);
    mproc_pool_destroy(w.pool);
    if (e.data != NULL)
        for (i = 0; i < n; i++)
            free(e.data[i]);
    free(e.data);
    free(e.len);
    free(w.handles);
    free(items);
    return r;
}

#else

int mproc_bench_fig_work(long kib, long count, int workers, double (*now)(void))
{
    (void)kib;
    (void)count;
    (void)workers;
    (void)now;
    printf("# work: skipped: mproc_bench was built without zlib (Debian: zlib1g-dev)\n");
    return 0;
}

#endif
