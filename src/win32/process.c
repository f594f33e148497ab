/* Children on Windows: CreateProcessW of this same executable with the channel handles on the
 * command line, an explicit inheritance list, and a job object for daemon children. */
#include "win32.h"

#include "../ipc/share.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define MARKER L" --mproc-child="

/* The exit codes TerminateProcess gives, which mproc__os_wait maps back to -SIGTERM / -SIGKILL. */
static UINT signal_kill_code(void)
{
    return (UINT)(MPROC__SIGNAL_EXIT_BASE + MPROC__SIGKILL);
}

static UINT signal_term_code(void)
{
    return (UINT)(MPROC__SIGNAL_EXIT_BASE + MPROC__SIGTERM);
}

/* ---- the command line ---- */

/* Appends arg to out (when out is not NULL) quoted so that CommandLineToArgvW and the C
 * runtime's argv parser give back exactly arg; returns the number of characters. Backslashes
 * are literal except in a run that ends at a quote, where each one is doubled (and the quote
 * escaped) so the run survives. */
static size_t quote_arg(const wchar_t *arg, int force, wchar_t *out)
{
    size_t n = 0, slashes;
    const wchar_t *p;
    int needs = force || arg[0] == L'\0';

    for (p = arg; *p != L'\0' && !needs; p++)
        needs = *p == L' ' || *p == L'\t' || *p == L'\n' || *p == L'\v' || *p == L'"';
    if (!needs) {
        for (p = arg; *p != L'\0'; p++) {
            if (out != NULL)
                out[n] = *p;
            n++;
        }
        return n;
    }
    if (out != NULL)
        out[n] = L'"';
    n++;
    for (p = arg;; p++) {
        size_t i, copies;
        slashes = 0;
        while (*p == L'\\') {
            slashes++;
            p++;
        }
        /* Before a quote (the argument's own or the closing one) a run of backslashes is
         * doubled; elsewhere it stands as it is. */
        copies = *p == L'"' || *p == L'\0' ? slashes * 2 : slashes;
        for (i = 0; i < copies; i++) {
            if (out != NULL)
                out[n] = L'\\';
            n++;
        }
        if (*p == L'\0')
            break;
        if (*p == L'"') {
            if (out != NULL)
                out[n] = L'\\';
            n++;
        }
        if (out != NULL)
            out[n] = *p;
        n++;
    }
    if (out != NULL)
        out[n] = L'"';
    n++;
    return n;
}

/* Writes v in decimal (-1 for an invalid handle); returns the number of characters. */
static size_t put_handle(mproc__handle v, wchar_t *out)
{
    wchar_t digits[24];
    size_t n = 0, i;
    uintptr_t u;

    if (v == MPROC__INVALID_HANDLE) {
        out[0] = L'-';
        out[1] = L'1';
        return 2;
    }
    u = (uintptr_t)v;
    do {
        digits[n++] = (wchar_t)(L'0' + (wchar_t)(u % 10));
        u /= 10;
    } while (u != 0);
    for (i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

/* "<exe>" --mproc-child=<in>,<out>,<extra>, malloc'd. */
static wchar_t *build_command_line(const wchar_t *exe, mproc__handle in, mproc__handle out,
                                   mproc__handle extra)
{
    size_t exe_len = quote_arg(exe, 1, NULL);
    size_t marker_len = sizeof MARKER / sizeof MARKER[0] - 1;
    size_t n;
    /* Three decimal handles of at most 20 digits, the commas and the terminator. */
    wchar_t *cmd = mproc__malloc((exe_len + marker_len + 3 * 24 + 3) * sizeof *cmd);
    if (cmd == NULL)
        return NULL;
    n = quote_arg(exe, 1, cmd);
    memcpy(cmd + n, MARKER, marker_len * sizeof *cmd);
    n += marker_len;
    n += put_handle(in, cmd + n);
    cmd[n++] = L',';
    n += put_handle(out, cmd + n);
    cmd[n++] = L',';
    n += put_handle(extra, cmd + n);
    cmd[n] = L'\0';
    return cmd;
}

/* ---- the inheritance list ---- */

/* Adds h to the list unless it is already there: a duplicate makes CreateProcess fail with
 * ERROR_INVALID_PARAMETER. */
static void list_add(HANDLE *list, DWORD *n, HANDLE h)
{
    DWORD i;
    for (i = 0; i < *n; i++)
        if (list[i] == h)
            return;
    list[(*n)++] = h;
}

/* A standard handle the child may get: valid, and inheritable (made so when it is not; left
 * so, since another thread's spawn may be listing it at the same time). NULL otherwise. */
static HANDLE usable_std_handle(DWORD which)
{
    HANDLE h = GetStdHandle(which);
    DWORD flags;
    if (h == NULL || h == INVALID_HANDLE_VALUE)
        return NULL;
    if (!GetHandleInformation(h, &flags))
        return NULL;
    if (!(flags & HANDLE_FLAG_INHERIT) &&
        !SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT))
        return NULL;
    return h;
}

/* Makes h inheritable for one CreateProcess call; *changed says whether to undo it after. */
static int inherit_for_call(HANDLE h, int *changed)
{
    DWORD flags;
    *changed = 0;
    if (!GetHandleInformation(h, &flags))
        return 0;
    if (flags & HANDLE_FLAG_INHERIT)
        return 1;
    if (!SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT))
        return 0;
    *changed = 1;
    return 1;
}

/* ---- the job of a daemon child ---- */

static HANDLE create_kill_job(void)
{
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    HANDLE job = CreateJobObjectW(NULL, NULL); /* not inheritable */
    if (job == NULL)
        return NULL;
    memset(&info, 0, sizeof info);
    /* When the last handle to the job closes (this process ends, even by a crash), every
     * process in it is killed. No crash dialog may hold a dying child up either. A process in
     * it may start others outside it (CREATE_BREAKAWAY_FROM_JOB): a daemon's non-daemon child
     * must outlive it, as on POSIX. */
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
                                            JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION |
                                            JOB_OBJECT_LIMIT_BREAKAWAY_OK;
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
        DWORD err = GetLastError();
        CloseHandle(job);
        SetLastError(err);
        return NULL;
    }
    return job;
}

/* Whether this process is a daemon child or a pool worker of ours, hence in a job that kills
 * everything in it when its parent ends. Set once, by mproc__os_child_setup, before any
 * thread of the library runs. */
static int in_kill_job;

void mproc__w32_set_in_kill_job(int yes)
{
    in_kill_job = yes;
}

/* ---- long executable paths ---- */

/* CreateProcessW's application name is limited to MAX_PATH characters, unless it comes in the
 * \\?\ form (accepted where the system allows long paths; Wine 8 refuses it too, with error 2).
 * The same path so written, malloc'd; NULL when it cannot be (relative, already in that form,
 * or no memory). */
static wchar_t *long_form(const wchar_t *exe)
{
    size_t n = wcslen(exe);
    const wchar_t *prefix;
    size_t skip;
    wchar_t *out;

    if (exe[0] == L'\\' && exe[1] == L'\\' && (exe[2] == L'?' || exe[2] == L'.'))
        return NULL;
    if (((exe[0] >= L'A' && exe[0] <= L'Z') || (exe[0] >= L'a' && exe[0] <= L'z')) &&
        exe[1] == L':' && exe[2] == L'\\') {
        prefix = L"\\\\?\\";
        skip = 0;
    } else if (exe[0] == L'\\' && exe[1] == L'\\') {
        prefix = L"\\\\?\\UNC\\"; /* \\server\share -> \\?\UNC\server\share */
        skip = 2;
    } else {
        return NULL;
    }
    out = mproc__malloc((wcslen(prefix) + n - skip + 1) * sizeof *out);
    if (out == NULL)
        return NULL;
    memcpy(out, prefix, wcslen(prefix) * sizeof *out);
    memcpy(out + wcslen(prefix), exe + skip, (n - skip + 1) * sizeof *out);
    return out;
}

/* The errors CreateProcessW gives for a name it cannot take (not for a missing file alone). */
static int path_error(DWORD err)
{
    return err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND ||
           err == ERROR_FILENAME_EXCED_RANGE || err == ERROR_INVALID_NAME ||
           err == ERROR_BAD_PATHNAME;
}

/* Wine: a new process whose address space happens to collide with the page Wine maps at a
 * fixed address ("err:virtual:virtual_alloc_first_teb wine: failed to map the shared user
 * data: c0000018", STATUS_CONFLICTING_ADDRESSES in the child) dies before its start-up is
 * done, and CreateProcessW fails with ERROR_INTERNAL_ERROR. That happened about once in 4,000
 * starts here, more often on a loaded machine; the next attempt gets a fresh layout. Windows
 * does not fail this way, and a retry costs it nothing. */
#define START_ATTEMPTS 5

/* The test hook's count of attempts to fail as Wine's collision does (src/testhooks.h). */
static volatile LONG fail_next;

void mproc__spawn_test_fail(int n)
{
    InterlockedExchange(&fail_next, (LONG)n);
}

static BOOL create_retrying(const wchar_t *exe, wchar_t *cmd, DWORD flags, STARTUPINFOW *si,
                            PROCESS_INFORMATION *pi)
{
    int i;
    for (i = 0; i < START_ATTEMPTS; i++) {
        if (fail_next > 0 && InterlockedDecrement(&fail_next) >= 0) {
            SetLastError(ERROR_INTERNAL_ERROR);
        } else if (CreateProcessW(exe, cmd, NULL, NULL, TRUE, flags, NULL, NULL, si, pi)) {
            return TRUE;
        }
        if (GetLastError() != ERROR_INTERNAL_ERROR)
            return FALSE;
    }
    return FALSE;
}

/* CreateProcessW of exe, which may be MAX_PATH characters or longer: as it is, then in the
 * \\?\ form, then by its short (8.3) name where the volume keeps those. When none works for
 * a long path, the error is ERROR_FILENAME_EXCED_RANGE: the path limit, not a missing file. */
static BOOL create_process(const wchar_t *exe, wchar_t *cmd, DWORD flags, STARTUPINFOW *si,
                           PROCESS_INFORMATION *pi)
{
    wchar_t *alt, *shortname = NULL;
    const wchar_t *name;
    BOOL ok = FALSE;
    DWORD n;

    if (create_retrying(exe, cmd, flags, si, pi))
        return TRUE;
    if (wcslen(exe) < MAX_PATH || !path_error(GetLastError()))
        return FALSE;
    alt = long_form(exe);
    if (alt != NULL) {
        ok = create_retrying(alt, cmd, flags, si, pi);
        if (!ok && !path_error(GetLastError())) {
            mproc__free(alt);
            return FALSE;
        }
    }
    /* The short name, asked for by the long form (which Windows needs past MAX_PATH). */
    name = alt != NULL ? alt : exe;
    n = ok ? 0 : GetShortPathNameW(name, NULL, 0);
    if (n > 0 && (shortname = mproc__malloc((size_t)n * sizeof *shortname)) != NULL &&
        GetShortPathNameW(name, shortname, n) > 0) {
        /* Back out of the \\?\ form, which CreateProcessW refused: "\\?\C:\..." -> "C:\...". */
        const wchar_t *s8 = shortname;
        if (alt != NULL && wcsncmp(s8, L"\\\\?\\", 4) == 0 && s8[5] == L':')
            s8 += 4;
        if (wcslen(s8) < MAX_PATH)
            ok = create_retrying(s8, cmd, flags, si, pi);
    }
    mproc__free(shortname);
    mproc__free(alt);
    if (!ok)
        SetLastError(ERROR_FILENAME_EXCED_RANGE);
    return ok;
}

/* ---- spawn ---- */

/* Held while the handles of shared objects are inheritable for one start: two starts that hand
 * on the same handles (a pool's, from two threads) must not undo each other's flag. */
static SRWLOCK share_lock = SRWLOCK_INIT;

int mproc__os_spawn(const mproc__spawn_spec *spec, mproc__proc *p)
{
    return mproc__os_spawn_shared(spec, NULL, 0, p);
}

int mproc__os_spawn_shared(const mproc__spawn_spec *spec, const mproc__handle *share, size_t nshare,
                           mproc__proc *p)
{
    HANDLE in = MPROC__H(spec->child_in), out = MPROC__H(spec->child_out);
    HANDLE extra = MPROC__H(spec->child_extra);
    int has_out = spec->child_out != MPROC__INVALID_HANDLE && spec->child_out != 0;
    int has_extra = spec->child_extra != MPROC__INVALID_HANDLE && spec->child_extra != 0;
    HANDLE list_small[16], *list = list_small;
    unsigned char share_inherit_small[16], *share_inherit = share_inherit_small;
    int share_locked = 0;
    size_t i;
    DWORD nlist = 0, flags, err = ERROR_SUCCESS;
    wchar_t *exe = NULL, *cmd = NULL;
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
    int attrs_ready = 0, in_inherit = 0, out_inherit = 0, extra_inherit = 0;
    SIZE_T attrs_size = 0;
    HANDLE job = NULL;
    STARTUPINFOEXW si;
    PROCESS_INFORMATION pi;
    int r = MPROC_OK;
    assert(spec != NULL && p != NULL);

    p->pid = 0;
    p->h = p->aux = MPROC__INVALID_HANDLE;
    p->reaped = p->exitcode = p->status_lost = 0;
    pi.hProcess = pi.hThread = NULL;
    /* Flushed before every start, as Python does: the parent's earlier output comes first. */
    fflush(NULL);

    if (spec->method == MPROC_START_FORK)
        return MPROC_ENOTSUP;
    if (spec->method != MPROC_START_SPAWN || spec->child_in == MPROC__INVALID_HANDLE ||
        spec->child_in == 0)
        return MPROC_EINVAL;

    for (i = 0; i < nshare; i++)
        if (share[i] == MPROC__INVALID_HANDLE || share[i] == 0)
            return MPROC_EINVAL;
    if (nshare + 6 > sizeof list_small / sizeof list_small[0]) {
        list = mproc__malloc((nshare + 6) * sizeof *list);
        share_inherit = mproc__calloc(nshare, 1);
        if (list == NULL || share_inherit == NULL) {
            r = MPROC_ENOMEM;
            goto finish;
        }
    } else {
        memset(share_inherit_small, 0, sizeof share_inherit_small);
    }

    exe = mproc__w32_module_path(NULL);
    if (exe == NULL) {
        err = GetLastError();
        /* Its own allocation failed: out of memory, not an OS failure (as in win32/fn.c). */
        if (err == ERROR_NOT_ENOUGH_MEMORY)
            r = MPROC_ENOMEM;
        goto finish;
    }
    cmd = build_command_line(exe, spec->child_in, has_out ? spec->child_out : MPROC__INVALID_HANDLE,
                             has_extra ? spec->child_extra : MPROC__INVALID_HANDLE);
    if (cmd == NULL) {
        r = MPROC_ENOMEM;
        goto finish;
    }
    if (spec->daemon) {
        job = create_kill_job();
        if (job == NULL) {
            err = GetLastError();
            goto finish;
        }
    }

    memset(&si, 0, sizeof si);
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = usable_std_handle(STD_INPUT_HANDLE);
    si.StartupInfo.hStdOutput = usable_std_handle(STD_OUTPUT_HANDLE);
    si.StartupInfo.hStdError = usable_std_handle(STD_ERROR_HANDLE);

    /* Exactly these handles cross: the channel ends and the standard handles. Other handles
     * that happen to be inheritable (another thread's pipes, the user's files) stay here. */
    list_add(list, &nlist, in);
    if (has_out)
        list_add(list, &nlist, out);
    if (has_extra)
        list_add(list, &nlist, extra);
    /* The shared objects' handles keep their values in the child, which the bootstrap record
     * names. */
    for (i = 0; i < nshare; i++)
        list_add(list, &nlist, MPROC__H(share[i]));
    if (si.StartupInfo.hStdInput != NULL)
        list_add(list, &nlist, si.StartupInfo.hStdInput);
    if (si.StartupInfo.hStdOutput != NULL)
        list_add(list, &nlist, si.StartupInfo.hStdOutput);
    if (si.StartupInfo.hStdError != NULL)
        list_add(list, &nlist, si.StartupInfo.hStdError);

    InitializeProcThreadAttributeList(NULL, 1, 0, &attrs_size);
    attrs = mproc__malloc(attrs_size);
    if (attrs == NULL) {
        r = MPROC_ENOMEM;
        goto finish;
    }
    if (!InitializeProcThreadAttributeList(attrs, 1, 0, &attrs_size)) {
        err = GetLastError();
        goto finish;
    }
    attrs_ready = 1;
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list,
                                   nlist * sizeof list[0], NULL, NULL)) {
        err = GetLastError();
        goto finish;
    }
    si.lpAttributeList = attrs;

    /* The channel ends are inheritable only for this call. A listed handle must be
     * inheritable; one not listed is not passed even when it is, so a concurrent spawn on
     * another thread (which lists its own) cannot pick these up. */
    if (!inherit_for_call(in, &in_inherit) || (has_out && !inherit_for_call(out, &out_inherit)) ||
        (has_extra && !inherit_for_call(extra, &extra_inherit))) {
        err = GetLastError();
        goto finish;
    }
    if (nshare > 0) {
        AcquireSRWLockExclusive(&share_lock);
        share_locked = 1;
    }
    for (i = 0; i < nshare; i++) {
        int changed = 0;
        if (!inherit_for_call(MPROC__H(share[i]), &changed)) {
            err = GetLastError();
            goto finish;
        }
        share_inherit[i] = (unsigned char)changed;
    }

    /* A daemon child starts suspended so it runs no instruction outside its job. Without a
     * console here (a GUI program, a service, output to pipes as under CTest), a console child
     * would get a console, and a window, of its own each: it gets none (its standard handles
     * are this process's, above). */
    flags = EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT |
            (spec->daemon ? CREATE_SUSPENDED : 0) |
            (GetConsoleWindow() == NULL ? DETACHED_PROCESS : 0);
    /* `daemon` means what it means on POSIX: a child dies with its own parent only when it is a
     * daemon. In a job of ours (a daemon or a worker) every child would join that job and die
     * with us; so each breaks away, and a daemon one gets a job of its own below. Where an
     * outer job forbids it, the child stays in ours, as before. */
    if (in_kill_job &&
        create_process(exe, cmd, flags | CREATE_BREAKAWAY_FROM_JOB, &si.StartupInfo, &pi)) {
        err = ERROR_SUCCESS;
    } else if (!create_process(exe, cmd, flags, &si.StartupInfo, &pi)) {
        err = GetLastError();
        goto finish;
    }
    if (job != NULL) {
        if (!AssignProcessToJobObject(job, pi.hProcess) || ResumeThread(pi.hThread) == (DWORD)-1) {
            err = GetLastError();
            TerminateProcess(pi.hProcess, signal_kill_code());
            WaitForSingleObject(pi.hProcess, INFINITE);
            CloseHandle(pi.hProcess);
            pi.hProcess = NULL;
            goto finish;
        }
    }
    p->pid = (long)pi.dwProcessId;
    p->h = MPROC__HV(pi.hProcess);
    p->aux = job != NULL ? MPROC__HV(job) : MPROC__INVALID_HANDLE;
    job = NULL;
    pi.hProcess = NULL;

finish:
    if (in_inherit)
        SetHandleInformation(in, HANDLE_FLAG_INHERIT, 0);
    if (out_inherit)
        SetHandleInformation(out, HANDLE_FLAG_INHERIT, 0);
    if (extra_inherit)
        SetHandleInformation(extra, HANDLE_FLAG_INHERIT, 0);
    for (i = 0; share_inherit != NULL && i < nshare; i++)
        if (share_inherit[i])
            SetHandleInformation(MPROC__H(share[i]), HANDLE_FLAG_INHERIT, 0);
    if (share_locked)
        ReleaseSRWLockExclusive(&share_lock);
    if (list != list_small)
        mproc__free(list);
    if (share_inherit != share_inherit_small)
        mproc__free(share_inherit);
    if (pi.hThread != NULL)
        CloseHandle(pi.hThread);
    if (job != NULL)
        CloseHandle(job);
    if (attrs_ready)
        DeleteProcThreadAttributeList(attrs);
    mproc__free(attrs);
    mproc__free(cmd);
    mproc__free(exe);
    if (r == MPROC_OK && err != ERROR_SUCCESS)
        r = mproc__sys_error((long)err);
    return r;
}

/* ---- wait, signal, close ---- */

/* An exit code in Python's form: -N for "ended by signal N" (our own codes from the child's
 * crash filter and from TerminateProcess), and a few crash statuses that got past the filter
 * (a crash before it was installed, or __fastfail) mapped the same way. */
static int map_exit_code(DWORD code)
{
    if (code >= MPROC__SIGNAL_EXIT_BASE && code < MPROC__SIGNAL_EXIT_BASE + 64)
        return -(int)(code - MPROC__SIGNAL_EXIT_BASE);
    switch (code) {
    case 0xC0000005: /* STATUS_ACCESS_VIOLATION */
    case 0xC00000FD: /* STATUS_STACK_OVERFLOW */
        return -11;
    case 0xC0000409: /* STATUS_STACK_BUFFER_OVERRUN: __fastfail, as abort() may use */
        return -6;
    case 0xC000001D: /* STATUS_ILLEGAL_INSTRUCTION */
        return -4;
    case 0xC0000094: /* STATUS_INTEGER_DIVIDE_BY_ZERO */
        return -8;
    default:
        /* A return from the target already is n & 255 (mproc__os_exit). exit(n) called
         * directly keeps n & 255 too, as on POSIX, for n up to 65535 and down to -256; other
         * codes are NTSTATUS values of a crash (0xC0000135: a DLL missing), kept as they are. */
        return code <= 0xFFFF || code >= 0xFFFFFF00u ? (int)(code & 0xFF) : (int)code;
    }
}

int mproc__os_wait(mproc__proc *p, long timeout_ms)
{
    uint64_t start = timeout_ms > 0 ? mproc__w32_now_ms() : 0;
    DWORD code, w;
    assert(p != NULL);

    if (p->reaped)
        return MPROC_OK;
    if (p->h == MPROC__INVALID_HANDLE || p->h == 0)
        return mproc__sys_error(ERROR_INVALID_HANDLE);
    for (;;) {
        w = WaitForSingleObject(MPROC__H(p->h), mproc__w32_remaining(start, timeout_ms));
        if (w == WAIT_OBJECT_0)
            break;
        if (w == WAIT_FAILED)
            return mproc__sys_error((long)GetLastError());
        /* A wait may time out up to a tick early: wait out the rest. */
        if (timeout_ms <= 0 || mproc__w32_remaining(start, timeout_ms) == 0)
            return MPROC_ETIMEDOUT;
    }
    if (!GetExitCodeProcess(MPROC__H(p->h), &code))
        return mproc__sys_error((long)GetLastError());
    p->exitcode = map_exit_code(code);
    p->reaped = 1;
    return MPROC_OK;
}

int mproc__os_signal(mproc__proc *p, int hard)
{
    HANDLE h = MPROC__H(p->h);
    DWORD err;
    assert(p != NULL);

    if (p->reaped)
        return MPROC_OK;
    if (p->h == MPROC__INVALID_HANDLE || p->h == 0)
        return mproc__sys_error(ERROR_INVALID_HANDLE);
    if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0)
        return MPROC_OK;
    if (TerminateProcess(h, hard ? signal_kill_code() : signal_term_code()))
        return MPROC_OK;
    /* A process that is ending refuses with ERROR_ACCESS_DENIED. */
    err = GetLastError();
    if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0)
        return MPROC_OK;
    return mproc__sys_error((long)err);
}

/* Closing the job kills a daemon child that still runs: the front end waits for (or kills and
 * reaps) the child first. */
long mproc__os_read_ready(mproc__handle h, void *buf, size_t cap)
{
    DWORD avail = 0;
    if (h == MPROC__INVALID_HANDLE || h == 0 || cap == 0)
        return 0;
    if (!PeekNamedPipe(MPROC__H(h), NULL, 0, NULL, &avail, NULL) || avail == 0)
        return 0;
    return mproc__os_read(h, buf, cap < avail ? cap : avail);
}

void mproc__os_proc_close(mproc__proc *p)
{
    DWORD saved = GetLastError();
    if (p->h != MPROC__INVALID_HANDLE && p->h != 0)
        CloseHandle(MPROC__H(p->h));
    if (p->aux != MPROC__INVALID_HANDLE && p->aux != 0)
        CloseHandle(MPROC__H(p->aux));
    p->h = p->aux = MPROC__INVALID_HANDLE;
    SetLastError(saved);
}
