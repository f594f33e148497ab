/*
 * Small portable helpers the examples share: sleep in milliseconds, a monotonic clock, and a
 * check that stops the program on an mproc error. Include it first: on POSIX it asks for the
 * POSIX declarations (nanosleep, clock_gettime) that -std=c99 leaves out otherwise.
 *
 * The library front end never uses #ifdef _WIN32; examples may, and only here.
 */
#ifndef EXAMPLE_UTIL_H
#define EXAMPLE_UTIL_H

#ifdef _WIN32
    #ifndef WIN32_LEAN_AND_MEAN
        #define WIN32_LEAN_AND_MEAN
    #endif
    #include <windows.h>
#else
    #ifndef _POSIX_C_SOURCE
        #define _POSIX_C_SOURCE 200809L
    #endif
    #include <errno.h>
    #include <time.h>
#endif

#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"

/* Not every example uses every helper; an unused one is not worth a warning. clang-cl defines
 * __clang__ and _MSC_VER but not __GNUC__, and ignores MSVC's warning pragma. */
#if defined(__GNUC__) || defined(__clang__)
    #define EX_MAYBE_UNUSED __attribute__((unused))
#else
    #define EX_MAYBE_UNUSED
    #ifdef _MSC_VER
        #pragma warning(disable : 4505) /* unreferenced function with internal linkage */
    #endif
#endif

/* Sleeps for ms milliseconds (time.sleep). */
EX_MAYBE_UNUSED static void ex_sleep_ms(unsigned long ms)
{
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec left;
    left.tv_sec = (time_t)(ms / 1000);
    left.tv_nsec = (long)(ms % 1000) * 1000000L;
    /* A signal cuts nanosleep short; sleep the rest. */
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
#endif
}

/* Seconds on a monotonic clock (time.time, but immune to clock changes). */
EX_MAYBE_UNUSED static double ex_now(void)
{
#ifdef _WIN32
    LARGE_INTEGER freq, now;
    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (double)now.QuadPart / (double)freq.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

/* Every mproc call that can fail returns a negative MPROC_E* code; an example just stops. */
EX_MAYBE_UNUSED static void ex_check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, mproc_strerror(rc), mproc_error_name(rc));
        exit(1);
    }
}

#endif /* EXAMPLE_UTIL_H */
