/* The guard (mproc_init): enters a spawned child's role (a process target or a pool worker),
 * else notes what the cascade breaker needs (runtime.c keeps it). */
#include "child.h"
#include "marker.h"
#include "runtime.h"

/* This process runs the work of a child the library spawned: from there on mproc_init() is done
 * for good, and starting processes of its own is legitimate (a nested pool in a worker). A forked
 * child inherits it. The guard's own copies of what it tells runtime.c. */
static int child_role;
/* The process's own command line says the library spawned it as a child. Without child_role,
 * its mproc_init() did not run the child's work: starting anything here would cascade. */
static int marked;
/* Test hook (mproc__guard_test_skip): mproc_init() does not take up the child role. */
static int test_skip;

int mproc_init(int argc, char **argv)
{
    mproc__handle in, out, extra;

    if (argc < 0 || (argc > 0 && argv == NULL))
        return MPROC_EINVAL;
    /* In the child's work (a target or a task calling the guard again) there is nothing left to
     * do: the channel the marker names may be closed or reused by now. */
    if (child_role)
        return MPROC_OK;
    /* Set first: a spawned child's work may start processes of its own. */
    mproc__runtime_set_initialized();
    /* The OS has the command line the parent gave us, so argv is only a convenience: a plugin
     * without main's argv, or a program whose option parser rewrote it, is recognised too. A
     * call that did not take up the role (the first one, or one before it) tries again. */
    if (!test_skip && mproc__marker_child_args(argc, argv, &in, &out, &extra)) {
        child_role = 1;
        mproc__runtime_set_child_role();
        mproc__child_main(in, out, extra); /* never returns */
    }
    if (!marked) {
        marked = mproc__marker_present(argc, argv);
        if (marked)
            mproc__runtime_set_marked();
    }
    return MPROC_OK;
}

void mproc__guard_test_skip(int on)
{
    test_skip = on != 0;
}
