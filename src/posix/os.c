/* Errors, time, identity and the CPU count. */
#define _GNU_SOURCE
#include "posix.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sched.h>
#endif

long mproc__os_errno(void)
{
    return errno;
}

void mproc__os_restore_errno(long err)
{
    errno = (int)err;
}

/* The error is stored in the key's pointer itself: nothing to allocate, nothing to free when a
 * thread ends. */
static pthread_key_t err_key;
static int err_key_ok;
static pthread_once_t err_once = PTHREAD_ONCE_INIT;

static void err_key_create(void)
{
    err_key_ok = pthread_key_create(&err_key, NULL) == 0;
}

void mproc__os_set_last_error(long err)
{
    pthread_once(&err_once, err_key_create);
    if (err_key_ok)
        pthread_setspecific(err_key, (void *)(intptr_t)err);
}

long mproc__os_get_last_error(void)
{
    pthread_once(&err_once, err_key_create);
    if (!err_key_ok)
        return 0;
    return (long)(intptr_t)pthread_getspecific(err_key);
}

uint64_t mproc__os_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void mproc__os_sleep_ms(long ms)
{
    struct timespec req, rem;

    if (ms <= 0)
        return;
    req.tv_sec = (time_t)(ms / 1000);
    req.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

long mproc__os_getpid(void)
{
    return (long)getpid();
}

long mproc__os_getppid(void)
{
    return (long)getppid();
}

/* ---- CPU count ---- */

static int affinity_count(void)
{
#if defined(__linux__)
    /* The mask may be wider than cpu_set_t on very large machines: grow until it fits. */
    int ncpus = CPU_SETSIZE;
    for (;;) {
        cpu_set_t *set = CPU_ALLOC(ncpus);
        size_t size = CPU_ALLOC_SIZE(ncpus);
        int n;
        if (set == NULL)
            break;
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            n = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return n;
        }
        CPU_FREE(set);
        if (errno != EINVAL || ncpus > (1 << 20))
            break;
        ncpus *= 2;
    }
#endif
    {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 && n < 1L << 20 ? (int)n : 1;
    }
}

#if defined(__linux__)
/* Reads up to two unsigned integers (or "max", read as -1) from a small file; the count read,
 * or -1 when the file cannot be opened. */
static int read_ints(const char *path, long long v[2])
{
    char buf[128];
    FILE *f = fopen(path, "re");
    int n = 0;
    const char *s = buf;
    size_t len;

    if (f == NULL)
        return -1;
    len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    while (n < 2) {
        long long x = 0;
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (s[0] == 'm' && s[1] == 'a' && s[2] == 'x') {
            x = -1;
            s += 3;
        } else if (*s == '-' || (*s >= '0' && *s <= '9')) {
            int neg = *s == '-';
            if (neg)
                s++;
            if (!(*s >= '0' && *s <= '9'))
                break;
            while (*s >= '0' && *s <= '9' && x < 1000000000000LL)
                x = x * 10 + (*s++ - '0');
            if (neg)
                x = -x;
        } else {
            break;
        }
        v[n++] = x;
    }
    return n;
}

static long long quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return -1;
    return (quota + period - 1) / period;
}

/* The CPU bandwidth limit of our cgroup, in whole CPUs, or -1 for none. Containers mount their
 * own cgroup at /sys/fs/cgroup, which is where the limit that binds them is. */
static long long cgroup_cpus(void)
{
    static const char *const v1_dirs[] = {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct",
                                          "/sys/fs/cgroup/cpuacct,cpu"};
    long long v[2], q;
    size_t i;

    if (read_ints("/sys/fs/cgroup/cpu.max", v) == 2)
        return quota_cpus(v[0], v[1]);
    for (i = 0; i < sizeof v1_dirs / sizeof v1_dirs[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", v1_dirs[i]);
        if (read_ints(path, v) < 1)
            continue;
        q = v[0];
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", v1_dirs[i]);
        if (read_ints(path, v) < 1)
            continue;
        return quota_cpus(q, v[0]);
    }
    return -1;
}
#else
/* cgroups are Linux's. */
static long long cgroup_cpus(void)
{
    return -1;
}
#endif

int mproc__os_cpu_count(void)
{
    int n = affinity_count();
    long long limit = cgroup_cpus();

    if (limit > 0 && limit < n)
        n = (int)limit;
    return n < 1 ? 1 : n;
}
