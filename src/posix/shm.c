/* Shared memory between the parent and one child, and the atomic word access it needs. */
#define _GNU_SOURCE
#include "posix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sys/syscall.h>
#endif

#if defined(_MSC_VER)
    #error "the POSIX backend is built with gcc or clang"
#else
    #define LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
    #define STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
    #define ADD_SC(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
    #define CAS_SC(p, e, d)                                                                        \
        __atomic_compare_exchange_n((p), (e), (d), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#endif
#if defined(__linux__) && defined(SYS_futex)
    #include <linux/futex.h>
    #define HAVE_FUTEX 1
#endif

/* A close-on-exec descriptor for an anonymous file: memfd on Linux, else an unlinked POSIX
 * shared memory object. */
static int anonymous_file(void)
{
    int fd = -1;
#if defined(__linux__) && defined(SYS_memfd_create)
    fd = (int)syscall(SYS_memfd_create, "mproc", 1u /* MFD_CLOEXEC */);
    if (fd >= 0 || errno != ENOSYS)
        return fd;
#endif
    {
        char name[64];
        static unsigned long counter;
        snprintf(name, sizeof name, "/mproc-%ld-%lu", (long)getpid(), ++counter);
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd >= 0) {
            shm_unlink(name);
            fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    return fd;
}

int mproc__os_shm_create(mproc__shm *s, size_t size)
{
    int fd, r;
    void *addr;

    s->addr = NULL;
    s->size = 0;
    s->h = MPROC__INVALID_HANDLE;
    mproc__posix_reg_lock();
    fd = anonymous_file();
    if (fd < 0) {
        r = mproc__sys_error(errno);
        mproc__posix_reg_unlock();
        return r;
    }
    r = mproc__posix_reg_add_locked(fd);
    mproc__posix_reg_unlock();
    if (r < 0) {
        close(fd);
        return r;
    }
    if (ftruncate(fd, (off_t)size) != 0) {
        r = mproc__sys_error(errno);
        mproc__os_close(fd);
        return r;
    }
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
        r = mproc__sys_error(errno);
        mproc__os_close(fd);
        return r;
    }
    s->addr = addr;
    s->size = size;
    s->h = fd;
    return MPROC_OK;
}

int mproc__os_shm_attach(mproc__shm *s, mproc__handle h, size_t size)
{
    struct stat st;
    void *addr;
    s->addr = NULL;
    s->size = 0;
    s->h = h;
    if (h < 0 || h > INT_MAX)
        return MPROC_EINVAL;
    /* A mapping past the file's end would fault (SIGBUS) at the first touch there: a size the
     * other process got wrong is refused here instead. */
    if (fstat((int)h, &st) != 0)
        return mproc__sys_error(errno);
    if (st.st_size < 0 || (uint64_t)st.st_size < (uint64_t)size)
        return MPROC_EPROTO;
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)h, 0);
    if (addr == MAP_FAILED)
        return mproc__sys_error(errno);
    s->addr = addr;
    s->size = size;
    return MPROC_OK;
}

void mproc__os_shm_destroy(mproc__shm *s)
{
    if (s->addr != NULL)
        munmap(s->addr, s->size);
    mproc__os_close(s->h);
    s->addr = NULL;
    s->size = 0;
    s->h = MPROC__INVALID_HANDLE;
}

uint32_t mproc__os_load(const volatile uint32_t *p)
{
    return LOAD_SC(p);
}

void mproc__os_store(volatile uint32_t *p, uint32_t v)
{
    STORE_SC(p, v);
}

uint32_t mproc__os_add(volatile uint32_t *p, uint32_t v)
{
    return ADD_SC(p, v);
}

uint32_t mproc__os_cas(volatile uint32_t *p, uint32_t expected, uint32_t desired)
{
    (void)CAS_SC(p, &expected, desired); /* a failure leaves the value seen in expected */
    return expected;
}

/* The region is a MAP_SHARED file mapping, so the futexes are the shared kind (no
 * FUTEX_PRIVATE_FLAG): the kernel keys them by file and offset, the same in both processes. */
int mproc__os_word_wait_works(void)
{
#if defined(HAVE_FUTEX)
    return 1;
#else
    return 0;
#endif
}

void mproc__os_word_wait(volatile uint32_t *p, uint32_t expected)
{
#if defined(HAVE_FUTEX)
    /* EAGAIN (the word changed), EINTR (a signal): the caller looks again either way. */
    (void)syscall(SYS_futex, p, FUTEX_WAIT, expected, NULL, NULL, 0);
#else
    (void)p;
    (void)expected;
#endif
}

void mproc__os_word_wake(volatile uint32_t *p)
{
#if defined(HAVE_FUTEX)
    (void)syscall(SYS_futex, p, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
#else
    (void)p;
#endif
}
