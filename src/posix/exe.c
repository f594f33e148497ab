/* Finding the running executable, which the spawn method runs again. */
#define _GNU_SOURCE
#include "posix.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sys/auxv.h>
#elif defined(__APPLE__)
    #include <mach-o/dyld.h>
#elif defined(__FreeBSD__) || defined(__DragonFly__)
    #include <sys/types.h>
    #include <sys/sysctl.h>
#endif

#ifndef PATH_MAX
    #define PATH_MAX 4096
#endif

/* The backend has no init hook: the path is worked out at the first spawn and kept. Working it
 * out from the system (never from a relative argv[0]) keeps it right after a chdir. */
static char exe_buf[PATH_MAX];
static const char *exe_path;
static int exe_errno;
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;

static void exe_find(void)
{
#if defined(__linux__)
    /* The kernel's link to our own image: right even after the file is renamed or replaced.
     * Without /proc, the name we were started by, made absolute now. */
    const char *name;
    if (access("/proc/self/exe", X_OK) == 0) {
        exe_path = "/proc/self/exe";
        return;
    }
    name = (const char *)getauxval(AT_EXECFN);
    if (name != NULL && realpath(name, exe_buf) != NULL) {
        exe_path = exe_buf;
        return;
    }
    exe_errno = errno ? errno : ENOENT;
#elif defined(__APPLE__)
    char raw[PATH_MAX];
    uint32_t size = sizeof raw;
    if (_NSGetExecutablePath(raw, &size) == 0 && realpath(raw, exe_buf) != NULL) {
        exe_path = exe_buf;
        return;
    }
    exe_errno = errno ? errno : ENOENT;
#elif defined(__FreeBSD__) || defined(__DragonFly__)
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1};
    size_t size = sizeof exe_buf;
    if (sysctl(mib, 4, exe_buf, &size, NULL, 0) == 0 && size > 1) {
        exe_path = exe_buf;
        return;
    }
    exe_errno = errno ? errno : ENOENT;
#else
    /* NetBSD and Solaris keep the link under /proc as well. */
    static const char *const links[] = {"/proc/curproc/exe", "/proc/curproc/file",
                                        "/proc/self/path/a.out"};
    size_t i;
    for (i = 0; i < sizeof links / sizeof links[0]; i++) {
        if (access(links[i], X_OK) == 0) {
            exe_path = links[i];
            return;
        }
    }
    exe_errno = ENOENT;
#endif
}

const char *mproc__posix_exe_path(void)
{
    pthread_once(&exe_once, exe_find);
    if (exe_path == NULL)
        errno = exe_errno;
    return exe_path;
}

const char *mproc__posix_argv0(void)
{
#if defined(__GLIBC__)
    /* glibc keeps argv[0] as it was given: ps and error messages then name the child as the
     * parent was named. */
    if (program_invocation_name != NULL && program_invocation_name[0] != '\0')
        return program_invocation_name;
#endif
    return mproc__posix_exe_path();
}
