/*
 * Ping-pong through a Pipe: the parent sends ten numbers, a child answers each with the next
 * one, then the parent closes its end and the child, seeing the end, stops.
 *
 * Python:  a, b = multiprocessing.Pipe()
 *          p = multiprocessing.Process(target=player, args=(b,)); p.start(); b.close()
 *          a.send(n); a.recv(); ... a.close(); p.join()
 */
#include "example_util.h"

#include <stdio.h>
#include <string.h>

#define ROUNDS 10

/* The child: answers n with n + 1 until the other end is gone; its exit code says how many it
 * answered. The end arrives through the share list, not as bytes: mproc_child_pipe(0, ...). */
static int player(const void *arg, size_t len)
{
    mproc_pipe *end = NULL;
    int answered = 0;
    (void)arg;
    (void)len;
    ex_check(mproc_child_pipe(0, &end), "mproc_child_pipe");
    for (;;) {
        void *msg = NULL;
        size_t n = 0;
        int v, rc = mproc_pipe_recv(end, MPROC_FOREVER, &msg, &n);
        if (rc == MPROC_EEND) /* Python: EOFError */
            break;
        ex_check(rc, "mproc_pipe_recv");
        if (n != sizeof v)
            return 255;
        memcpy(&v, msg, sizeof v);
        mproc_free(msg);
        v++;
        ex_check(mproc_pipe_send(end, &v, sizeof v), "mproc_pipe_send");
        answered++;
    }
    mproc_pipe_destroy(end);
    return answered;
}

int main(int argc, char **argv)
{
    mproc_process_options o;
    mproc_process *p;
    mproc_pipe *mine, *theirs;
    mproc_shared *share[1];
    int i, code = -1;

    ex_check(mproc_init(argc, argv), "mproc_init");

    ex_check(mproc_pipe_create(&mine, &theirs), "mproc_pipe_create");
    share[0] = mproc_pipe_shared(theirs);
    memset(&o, 0, sizeof o);
    o.target = player;
    o.share = share; /* only what is listed crosses to the child */
    o.share_count = 1;
    ex_check(mproc_process_create_ex(&p, &o), "mproc_process_create_ex");
    /* The process holds the child's end now; ours goes, so that the child's end is the only
     * one left and its end of file comes when we close ours (Python: b.close()). */
    mproc_pipe_destroy(theirs);
    ex_check(mproc_process_start(p), "mproc_process_start");

    for (i = 0; i < ROUNDS; i++) {
        void *msg = NULL;
        size_t n = 0;
        int v = i * 10;
        ex_check(mproc_pipe_send(mine, &v, sizeof v), "mproc_pipe_send");
        ex_check(mproc_pipe_recv(mine, 60000, &msg, &n), "mproc_pipe_recv");
        if (n == sizeof v)
            memcpy(&v, msg, sizeof v);
        mproc_free(msg);
        printf("ping %d -> pong %d\n", i * 10, v);
    }
    mproc_pipe_destroy(mine);
    ex_check(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join");
    ex_check(mproc_process_exitcode(p, &code), "mproc_process_exitcode");
    printf("player answered %d messages, then saw the end\n", code);
    mproc_process_destroy(p);
    return 0;
}
