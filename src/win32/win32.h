/* What the Win32 backend's files share. Private to src/win32/: it names Windows types, which
 * internal.h never does. */
#ifndef MPROC_WIN32_H
#define MPROC_WIN32_H

#ifndef WIN32_LEAN_AND_MEAN
    #define WIN32_LEAN_AND_MEAN
#endif
/* Windows 8: console handles are real handles (they can go in a handle list) and job objects
 * nest, so a daemon child can get its own job even when this process already runs in one. */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0602
    #undef _WIN32_WINNT
    #define _WIN32_WINNT 0x0602
#endif

#include <windows.h>

#include "../backend.h"

/* internal.h's handle is a HANDLE-sized integer; these convert without a warning. */
#define MPROC__H(h) ((HANDLE)(h))
#define MPROC__HV(H) ((mproc__handle)(H))

/* The parent's pid as the child's bootstrap told it (os.c); 0 until mproc__os_child_setup. */
void mproc__w32_set_parent_pid(long pid);

/* Called by mproc__os_child_setup: 1 when this process is a daemon child or a pool worker,
 * which its parent put in a job that kills it (process.c). */
void mproc__w32_set_in_kill_job(int yes);

/* A thread for the backend's own work (loop.c), with a small stack: a pool of 100 workers runs
 * 200 of them. Created suspended: ResumeThread lets it run. NULL on failure, with
 * GetLastError() set. */
HANDLE mproc__w32_thread_start(unsigned(__stdcall *fn)(void *), void *arg);

/* The module's file name as a malloc'd wide string (mproc__free), of any length; NULL with
 * GetLastError() set on failure. mod NULL: the executable. */
wchar_t *mproc__w32_module_path(HMODULE mod);

/* Monotonic milliseconds with sub-tick precision; the deadline arithmetic of every wait. */
uint64_t mproc__w32_now_ms(void);
/* Called once a lock's holder is found dead, before its state is repaired: under Wine, waits
 * until the killed thread has surely stopped storing (os.c says why); on Windows returns. */
void mproc__w32_dead_settle(void);

/* What is left of a wait that started at `start` for timeout_ms (negative: INFINITE). */
DWORD mproc__w32_remaining(uint64_t start, long timeout_ms);

#endif /* MPROC_WIN32_H */
