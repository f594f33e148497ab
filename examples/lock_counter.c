/*
 * Eight processes each add 1 to a counter in shared memory 10 000 times, under a lock: the total
 * is exactly 80 000. Without the lock (`counter = counter + 1` is a read, then a write) updates
 * get lost. The lock and the memory reach each child through its share list, the same way under
 * fork, spawn and Windows.
 *
 * Python:  lock = multiprocessing.Lock(); v = multiprocessing.Value('l', 0, lock=False)
 *          Process(target=add, args=(v, lock)) ...  with lock: v.value += 1
 */
#include "example_util.h"

#include <stdio.h>

#define NPROC 8
#define ADDS 10000

/* The child: the objects come back by their position in the share list. */
static int add(const void *arg, size_t len)
{
    mproc_shm *shm;
    mproc_lock *lock;
    volatile long *counter;
    int i;
    (void)arg;
    (void)len;
    ex_check(mproc_child_shm(0, &shm), "mproc_child_shm");
    ex_check(mproc_child_lock(1, &lock), "mproc_child_lock");
    counter = mproc_shm_ptr(shm);
    for (i = 0; i < ADDS; i++) {
        /* MPROC_EOWNERDEAD would mean a holder died mid-update: not here, so any error stops. */
        ex_check(mproc_lock_acquire(lock, MPROC_FOREVER), "mproc_lock_acquire");
        *counter = *counter + 1;
        ex_check(mproc_lock_release(lock), "mproc_lock_release");
    }
    return 0;
}

int main(int argc, char **argv)
{
    mproc_process *procs[NPROC];
    mproc_shared *share[2];
    mproc_process_options o = {0};
    mproc_shm *shm;
    mproc_lock *lock;
    double start;
    int i, code;

    ex_check(mproc_init(argc, argv), "mproc_init");
    ex_check(mproc_shm_create(&shm, sizeof(long)), "mproc_shm_create");
    ex_check(mproc_lock_create(&lock), "mproc_lock_create");
    share[0] = mproc_shm_shared(shm);
    share[1] = mproc_lock_shared(lock);
    o.target = add;
    o.share = share;
    o.share_count = 2;

    start = ex_now();
    for (i = 0; i < NPROC; i++) {
        ex_check(mproc_process_create_ex(&procs[i], &o), "mproc_process_create_ex");
        ex_check(mproc_process_start(procs[i]), "mproc_process_start");
    }
    for (i = 0; i < NPROC; i++) {
        ex_check(mproc_process_join(procs[i], MPROC_FOREVER), "mproc_process_join");
        ex_check(mproc_process_exitcode(procs[i], &code), "mproc_process_exitcode");
        if (code != 0)
            printf("child %d failed: exit code %d\n", i, code);
        mproc_process_destroy(procs[i]);
    }
    printf("counter: %ld (expected %d)\n", *(volatile long *)mproc_shm_ptr(shm), NPROC * ADDS);
    printf("spend time : %.2f\n", ex_now() - start);
    mproc_lock_destroy(lock);
    mproc_shm_destroy(shm);
    return 0;
}
