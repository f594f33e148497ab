/*
 * The seed's section 3: os.getpid(), os.getppid(), p.is_alive() and p.terminate().
 *
 * The child would sleep 30 s; the parent ends it early with terminate, which the seed calls
 * "not recommended, rarely used": the child gets no chance to clean up.
 */
#include "example_util.h"

#include <stdio.h>

static int sleeper(const void *arg, size_t arg_len)
{
    (void)arg;
    (void)arg_len;
    printf("child  pid: %ld ppid: %ld\n", mproc_getpid(), mproc_getppid());
    fflush(stdout);
    ex_sleep_ms(30000);
    return 0;
}

int main(int argc, char **argv)
{
    mproc_process *p;
    int rc, code;

    /* The guard, the C form of Python's `if __name__ == "__main__":`. A spawned child (always
     * on Windows, which has no fork) runs this same executable again from the top; mproc_init
     * sends it to its target and ends it there, so only the parent gets past this line. */
    ex_check(mproc_init(argc, argv), "mproc_init");

    printf("main   pid: %ld ppid: %ld\n", mproc_getpid(), mproc_getppid());
    fflush(stdout);

    ex_check(mproc_process_create(&p, sleeper, NULL, 0), "mproc_process_create");
    printf("is_alive before start: %d\n", mproc_process_is_alive(p));
    fflush(stdout);
    ex_check(mproc_process_start(p), "mproc_process_start");
    printf("is_alive after start: %d (child pid %ld)\n", mproc_process_is_alive(p),
           mproc_process_pid(p));
    fflush(stdout);

    /* A join with a timeout: the child still runs after 1 s, which also gives it time to print. */
    rc = mproc_process_join(p, 1000);
    printf("join(1000 ms): %s\n", rc == MPROC_ETIMEDOUT ? "timed out, still running" : "ended");
    fflush(stdout);

    ex_check(mproc_process_terminate(p), "mproc_process_terminate");
    /* terminate only asks; join waits until the child is really gone and collects its code. */
    ex_check(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join");
    printf("is_alive after terminate and join: %d\n", mproc_process_is_alive(p));
    fflush(stdout);
    ex_check(mproc_process_exitcode(p, &code), "mproc_process_exitcode");
    /* -15 is -SIGTERM, on Windows too, as in Python. */
    printf("exitcode: %d\n", code);
    fflush(stdout);
    mproc_process_destroy(p);
    return 0;
}
