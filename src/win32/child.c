/* The spawned child's side: finding the marker, crash-to-exit-code mapping, and exit. */
#include "win32.h"

#include "../ipc/share.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Test hook (mproc__guard_test_no_cmdline): GetCommandLineW is not read, so only argv is. */
static int test_no_cmdline;

void mproc__guard_test_no_cmdline(int on)
{
    test_no_cmdline = on != 0;
}

int mproc__os_marker_take(const mproc__marker *m, mproc__handle *in, mproc__handle *out,
                          mproc__handle *extra)
{
    assert(m != NULL && in != NULL && out != NULL && extra != NULL);
    if (m->in == MPROC__INVALID_HANDLE || m->in == 0 || *m->tail != '\0')
        return 0;
    /* Ours now, and only ours: a program this child starts with inheritance must not hold the
     * channel open (the parent would not see this child end). */
    SetHandleInformation(MPROC__H(m->in), HANDLE_FLAG_INHERIT, 0);
    if (m->out != MPROC__INVALID_HANDLE && m->out != 0)
        SetHandleInformation(MPROC__H(m->out), HANDLE_FLAG_INHERIT, 0);
    if (m->extra != MPROC__INVALID_HANDLE && m->extra != 0)
        SetHandleInformation(MPROC__H(m->extra), HANDLE_FLAG_INHERIT, 0);
    *in = m->in;
    *out = m->out;
    *extra = m->extra;
    return 1;
}

int mproc__os_child_clean(const mproc__handle *keep, size_t n)
{
    size_t i;
    DWORD flags;

    /* Only what the handle list named was inherited: nothing to close. The objects' handles
     * are ours now, and not for a program this child starts. */
    for (i = 0; i < n; i++) {
        if (keep[i] == MPROC__INVALID_HANDLE || keep[i] == 0 ||
            !GetHandleInformation(MPROC__H(keep[i]), &flags))
            return MPROC_EPROTO;
        SetHandleInformation(MPROC__H(keep[i]), HANDLE_FLAG_INHERIT, 0);
    }
    return MPROC_OK;
}

/* The second argument of the process's own command line (GetCommandLineW), whatever main's argv
 * says: 1 with it in buf, 0 when there is none or it is not plain ASCII (the marker is). The
 * first argument is split as the C runtime does: up to the closing quote when it starts with
 * one, else up to a space or tab. */
static int own_arg1(char *buf, size_t cap)
{
    const wchar_t *s = GetCommandLineW();
    size_t n = 0;

    if (s == NULL || test_no_cmdline)
        return 0;
    if (*s == L'"') {
        for (s++; *s != L'\0' && *s != L'"'; s++)
            ;
        if (*s == L'"')
            s++;
    } else {
        for (; *s != L'\0' && *s != L' ' && *s != L'\t'; s++)
            ;
    }
    while (*s == L' ' || *s == L'\t')
        s++;
    for (; *s != L'\0' && *s != L' ' && *s != L'\t'; s++) {
        if (*s > 0x7e || n + 1 >= cap)
            return 0;
        buf[n++] = (char)*s;
    }
    buf[n] = '\0';
    return n > 0;
}

int mproc__os_marker_text(int i, char *buf, size_t cap)
{
    return i == 0 ? own_arg1(buf, cap) : -1;
}

/* The exit code that says "ended by signal sig", as a POSIX parent would see it. */
static UINT signal_exit(int sig)
{
    return (UINT)(MPROC__SIGNAL_EXIT_BASE + sig);
}

static LONG WINAPI crash_filter(EXCEPTION_POINTERS *info)
{
    DWORD code =
        info != NULL && info->ExceptionRecord != NULL ? info->ExceptionRecord->ExceptionCode : 0;
    int sig;
    switch (code) {
    case EXCEPTION_ACCESS_VIOLATION:
    case EXCEPTION_STACK_OVERFLOW:
    case EXCEPTION_IN_PAGE_ERROR:
    case EXCEPTION_ARRAY_BOUNDS_EXCEEDED:
    case EXCEPTION_DATATYPE_MISALIGNMENT:
    case EXCEPTION_GUARD_PAGE:
    case EXCEPTION_INVALID_HANDLE:
        sig = 11; /* SIGSEGV */
        break;
    case EXCEPTION_INT_DIVIDE_BY_ZERO:
    case EXCEPTION_INT_OVERFLOW:
    case EXCEPTION_FLT_DIVIDE_BY_ZERO:
    case EXCEPTION_FLT_OVERFLOW:
    case EXCEPTION_FLT_UNDERFLOW:
    case EXCEPTION_FLT_INEXACT_RESULT:
    case EXCEPTION_FLT_INVALID_OPERATION:
    case EXCEPTION_FLT_DENORMAL_OPERAND:
    case EXCEPTION_FLT_STACK_CHECK:
        sig = 8; /* SIGFPE */
        break;
    case EXCEPTION_ILLEGAL_INSTRUCTION:
    case EXCEPTION_PRIV_INSTRUCTION:
        sig = 4; /* SIGILL */
        break;
    case EXCEPTION_BREAKPOINT:
    case EXCEPTION_SINGLE_STEP:
        sig = 5; /* SIGTRAP */
        break;
    default:
        /* Anything else unhandled (a C++ exception, a noncontinuable one) ends the program as
         * std::terminate would on POSIX: by abort. */
        sig = 6; /* SIGABRT */
        break;
    }
    /* TerminateProcess, not ExitProcess: no DLL detach code runs in a process whose state is
     * broken, and no stdio is flushed, as with a POSIX signal. */
    TerminateProcess(GetCurrentProcess(), signal_exit(sig));
    return EXCEPTION_EXECUTE_HANDLER;
}

static void abort_handler(int sig)
{
    (void)sig;
    TerminateProcess(GetCurrentProcess(), signal_exit(6)); /* SIGABRT */
}

void mproc__os_child_setup(int daemon, long parent_pid)
{
    ULONG guarantee = 32768;

    /* The parent put a daemon in a job that dies with it; what this process starts leaves
     * that job unless it is a daemon itself (process.c). */
    mproc__w32_set_in_kill_job(daemon != MPROC__DAEMON_NONE);
    mproc__w32_set_parent_pid(parent_pid);

    /* No dialog box for a crash or a missing drive: a child fails, it never waits for a click. */
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
    /* Leaves the filter room to run after a stack overflow on the main thread. */
    SetThreadStackGuarantee(&guarantee);
    SetUnhandledExceptionFilter(crash_filter);
    signal(SIGABRT, abort_handler);
#ifdef _MSC_VER
    /* No "abort() has been called" box and no Watson report, which would bypass the handler. */
    _set_abort_behavior(0, _WRITE_ABORT_MSG | _CALL_REPORTFAULT);
#endif
}

void mproc__os_exit(int code)
{
    fflush(NULL);
    /* The low byte, as POSIX keeps: the same code on every OS for every return value, and
     * never one that reads as "ended by signal N". */
    ExitProcess((UINT)code & 0xFFu);
}
