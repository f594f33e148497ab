/* Shared memory and handing objects to a child (mproc_shm_*, mproc_process_options::share,
 * mproc_child_shm): what a child writes the parent reads, 8 processes each writing a slice, a
 * child handing the block on, destroy in a child dropping only its hold, only listed objects
 * crossing, and descriptors (and /dev/shm) back at their baseline afterwards. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#ifndef _WIN32
    #include <unistd.h>
#endif

#define SLICES 8
#define SLICE_SIZE (64 * 1024)

/* The byte a writer puts at offset i of slice s. */
static unsigned char pattern(int s, size_t i)
{
    return (unsigned char)(s * 31 + (int)(i % 251) + 1);
}

/* ---- what the children run ---- */

/* Writes slice arg (an int) of the block handed at index 0; 0 when all went well, else a code
 * saying what did not. */
static int t_write_slice(const void *arg, size_t len)
{
    mproc_shm *s = NULL;
    unsigned char *p;
    int slice = tu_read_int(arg, len);
    size_t i;

    if (mproc_child_share_count() != 1)
        return 10;
    if (mproc_child_shm(0, &s) != MPROC_OK || s == NULL)
        return 11;
    if (mproc_shm_size(s) != (size_t)SLICES * SLICE_SIZE)
        return 12;
    if (mproc_child_shm(1, &s) != MPROC_EINVAL || s != NULL)
        return 13;
    if (mproc_child_shm(0, NULL) != MPROC_EINVAL)
        return 14;
    if (mproc_child_shm(0, &s) != MPROC_OK)
        return 15;
    p = (unsigned char *)mproc_shm_ptr(s) + (size_t)slice * SLICE_SIZE;
    for (i = 0; i < SLICE_SIZE; i++) {
        if (p[i] != 0)
            return 16; /* zeroed, and nobody else writes here */
        p[i] = pattern(slice, i);
    }
    return 0;
}

/* Hands the block it got on to a child of its own, which writes slice arg. */
static int t_hand_on(const void *arg, size_t len)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    mproc_shared *list[1];
    mproc_shm *s = NULL;
    int code = -1;

    if (mproc_child_shm(0, &s) != MPROC_OK)
        return 20;
    list[0] = mproc_shm_shared(s);
    memset(&o, 0, sizeof o);
    o.target = t_write_slice;
    o.arg = arg;
    o.arg_len = len;
    o.share = list;
    o.share_count = 1;
    if (mproc_process_create_ex(&p, &o) != MPROC_OK)
        return 21;
    /* The grandchild holds it through the process object now: our hold may go. */
    mproc_shm_destroy(s);
    if (mproc_child_shm(0, &s) != MPROC_ESTATE)
        return 22;
    if (mproc_process_start(p) != MPROC_OK || mproc_process_join(p, 60000) != MPROC_OK ||
        mproc_process_exitcode(p, &code) != MPROC_OK) {
        mproc_process_destroy(p);
        return 23;
    }
    mproc_process_destroy(p);
    return code;
}

/* Writes 0x5A into its first byte, destroys its hold, and checks it is gone from the table. */
static int t_write_and_destroy(const void *arg, size_t len)
{
    mproc_shm *s = NULL, *again = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_shm(0, &s) != MPROC_OK)
        return 30;
    ((unsigned char *)mproc_shm_ptr(s))[0] = 0x5A;
    mproc_shm_destroy(s);
    if (mproc_child_shm(0, &again) != MPROC_ESTATE || again != NULL)
        return 31;
    return 0;
}

#if defined(__linux__)
/* The memfds of the library's blocks this process holds ("/memfd:mproc"). */
static int count_memfds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], target[256];
        ssize_t k;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        k = readlink(path, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        n += strncmp(target, "/memfd:mproc", 12) == 0;
    }
    closedir(d);
    return n;
}

/* The entries of /dev/shm (-1 when it cannot be read). */
static long count_dev_shm(void)
{
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    long n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}
#endif

/* Handed one of two blocks: it sees one object, and (Linux) holds one block's descriptor. */
static int t_only_listed(const void *arg, size_t len)
{
    mproc_shm *s = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_share_count() != 1 || mproc_child_shm(0, &s) != MPROC_OK)
        return 40;
    if (((unsigned char *)mproc_shm_ptr(s))[0] != 0xB2)
        return 41; /* the listed block, not the other one */
#if defined(__linux__)
    if (count_memfds() != 1)
        return 42;
#endif
    return 0;
}

static int t_sleep_holding(const void *arg, size_t len)
{
    mproc_shm *s = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_shm(0, &s) != MPROC_OK)
        return 50;
    ((unsigned char *)mproc_shm_ptr(s))[1] = 1;
    tu_sleep_ms(60000);
    return 0;
}

/* A pool's initializer: every worker was handed the block, and only it. */
static int t_pool_init(const void *arg, size_t len)
{
    mproc_shm *s = NULL;
    (void)arg;
    (void)len;
    return mproc_child_share_count() == 1 && mproc_child_shm(0, &s) == MPROC_OK ? 0 : 1;
}

/* A pool task: writes the slice its int names, answers 0 (or a code saying what failed). */
static int t_pool_slice(const void *arg, size_t len, mproc_output *out)
{
    int code = t_write_slice(arg, len);
    return mproc_output_set(out, &code, sizeof code);
}

/* ---- helpers ---- */

static mproc_process *start_with(mproc_target target, int arg, mproc_shm *s)
{
    mproc_shared *list[1];
    list[0] = mproc_shm_shared(s);
    return tu_start_sharing(target, &arg, sizeof arg, list, 1);
}

static void join_ok(mproc_process *p)
{
    tu_join_ok(p, 120000);
}

static void check_slice(const mproc_shm *s, int slice)
{
    const unsigned char *p =
        (const unsigned char *)mproc_shm_ptr((mproc_shm *)s) + (size_t)slice * SLICE_SIZE;
    size_t i;
    for (i = 0; i < SLICE_SIZE; i++)
        if (p[i] != pattern(slice, i))
            fail_msg("slice %d byte %lu: %u", slice, (unsigned long)i, p[i]);
}

/* ---- the tests ---- */

static void shm_create_zeroed(void **state)
{
    mproc_shm *s = NULL;
    const unsigned char *p;
    size_t i, n = 3 * 1024 * 1024 + 5;
    (void)state;
    assert_int_equal(mproc_shm_create(&s, n), MPROC_OK);
    assert_non_null(s);
    assert_int_equal(mproc_shm_size(s), n);
    p = mproc_shm_ptr(s);
    assert_non_null(p);
    assert_int_equal(((uintptr_t)p) % 64, 0);
    for (i = 0; i < n; i++)
        if (p[i] != 0)
            fail_msg("byte %lu is %u", (unsigned long)i, p[i]);
    memset(mproc_shm_ptr(s), 0xFF, n);
    mproc_shm_destroy(s);
}

static void shm_bad_input(void **state)
{
    mproc_shm *s = (mproc_shm *)&s, *ok = NULL;
    mproc_process_options o;
    mproc_process *p = (mproc_process *)&p;
    mproc_shared *list[2];
    (void)state;

    assert_int_equal(mproc_shm_create(NULL, 16), MPROC_EINVAL);
    assert_int_equal(mproc_shm_create(&s, 0), MPROC_EINVAL);
    assert_null(s);
    assert_null(mproc_shm_ptr(NULL));
    assert_int_equal(mproc_shm_size(NULL), 0);
    assert_null(mproc_shm_shared(NULL));
    mproc_shm_destroy(NULL);
    /* Not a child (nothing was handed to this process). */
    assert_int_equal(mproc_child_share_count(), 0);
    assert_int_equal(mproc_child_shm(0, &s), MPROC_EINVAL);
    assert_null(s);

    assert_int_equal(mproc_shm_create(&ok, 64), MPROC_OK);
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.share_count = 1; /* share NULL */
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
    list[0] = NULL;
    o.share = list;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    list[0] = mproc_shm_shared(ok);
    list[1] = mproc_shm_shared(ok);
    o.share_count = 2; /* the same object twice */
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    o.share_count = 65;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    o.share_count = 1;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    mproc_process_destroy(p);
    mproc_shm_destroy(ok);
}

static void shm_child_writes(void **state)
{
    mproc_shm *s = NULL;
    mproc_process *p;
    (void)state;
    assert_int_equal(mproc_shm_create(&s, (size_t)SLICES * SLICE_SIZE), MPROC_OK);
    p = start_with(t_write_slice, 3, s);
    join_ok(p);
    check_slice(s, 3);
    mproc_shm_destroy(s);
}

static void shm_eight_slices(void **state)
{
    tu_counts base = tu_counts_now();
    mproc_process *p[SLICES];
    mproc_shm *s = NULL;
    int i;
#if defined(__linux__)
    long shm_base = count_dev_shm();
#endif
    (void)state;
    assert_int_equal(mproc_shm_create(&s, (size_t)SLICES * SLICE_SIZE), MPROC_OK);
    for (i = 0; i < SLICES; i++)
        p[i] = start_with(t_write_slice, i, s);
    for (i = 0; i < SLICES; i++)
        join_ok(p[i]);
    for (i = 0; i < SLICES; i++)
        check_slice(s, i);
    mproc_shm_destroy(s);
    tu_assert_counts_back(&base, 10000);
#if defined(__linux__)
    assert_int_equal(count_dev_shm(), shm_base);
#endif
}

static void shm_hand_on(void **state)
{
    mproc_shm *s = NULL;
    (void)state;
    assert_int_equal(mproc_shm_create(&s, (size_t)SLICES * SLICE_SIZE), MPROC_OK);
    join_ok(start_with(t_hand_on, 5, s));
    check_slice(s, 5);
    mproc_shm_destroy(s);
}

static void shm_destroy_in_child(void **state)
{
    mproc_shm *s = NULL;
    (void)state;
    assert_int_equal(mproc_shm_create(&s, 4096), MPROC_OK);
    join_ok(start_with(t_write_and_destroy, 0, s));
    /* The child's destroy dropped its own hold: the block is still ours, with its byte. */
    assert_int_equal(((unsigned char *)mproc_shm_ptr(s))[0], 0x5A);
    mproc_shm_destroy(s);
}

static void shm_only_listed(void **state)
{
    mproc_shm *a = NULL, *b = NULL;
    (void)state;
    assert_int_equal(mproc_shm_create(&a, 4096), MPROC_OK);
    assert_int_equal(mproc_shm_create(&b, 4096), MPROC_OK);
    ((unsigned char *)mproc_shm_ptr(a))[0] = 0xA1;
    ((unsigned char *)mproc_shm_ptr(b))[0] = 0xB2;
    join_ok(start_with(t_only_listed, 0, b));
    mproc_shm_destroy(a);
    mproc_shm_destroy(b);
}

/* The process object holds its own hold from creation: the caller's may go before the start. */
static void shm_outlives_creator_hold(void **state)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    mproc_shared *list[1];
    mproc_shm *s = NULL;
    int arg = 0;
    (void)state;
    assert_int_equal(mproc_shm_create(&s, 4096), MPROC_OK);
    list[0] = mproc_shm_shared(s);
    memset(&o, 0, sizeof o);
    o.target = t_write_and_destroy;
    o.arg = &arg;
    o.arg_len = sizeof arg;
    o.share = list;
    o.share_count = 1;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    mproc_shm_destroy(s);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    join_ok(p);
}

/* A child killed while it holds the block: nothing is left behind. */
static void shm_holder_killed(void **state)
{
    tu_counts base = tu_counts_now();
    mproc_process *p;
    mproc_shm *s = NULL;
    volatile unsigned char *flag;
    uint64_t deadline;
#if defined(__linux__)
    long shm_base = count_dev_shm();
#endif
    (void)state;
    assert_int_equal(mproc_shm_create(&s, 1 << 20), MPROC_OK);
    flag = (volatile unsigned char *)mproc_shm_ptr(s) + 1;
    p = start_with(t_sleep_holding, 0, s);
    deadline = tu_now_ms() + 60000;
    while (*flag == 0 && tu_now_ms() < deadline)
        tu_sleep_ms(5);
    assert_int_equal(*flag, 1);
    assert_int_equal(mproc_process_kill(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
    mproc_process_destroy(p);
    mproc_shm_destroy(s);
    tu_assert_counts_back(&base, 10000);
#if defined(__linux__)
    assert_int_equal(count_dev_shm(), shm_base);
#endif
}

/* Every worker of a pool is handed the block, replacements too (one task a worker here); the
 * caller's own hold goes right after the create. */
static void shm_pool_workers(void **state)
{
    tu_counts base = tu_counts_now();
    mproc_pool_options o;
    mproc_pool *pool = NULL;
    mproc_results *res = NULL;
    mproc_shared *list[1];
    mproc_shm *s = NULL;
    int items[SLICES], i;
    (void)state;
    assert_int_equal(mproc_shm_create(&s, (size_t)SLICES * SLICE_SIZE), MPROC_OK);
    list[0] = mproc_shm_shared(s);
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.initializer = t_pool_init;
    o.max_tasks_per_child = 1;
    o.share = list;
    o.share_count = 1;
    assert_int_equal(mproc_pool_create_ex(&pool, &o), MPROC_OK);
    for (i = 0; i < SLICES; i++)
        items[i] = i;
    assert_int_equal(mproc_pool_map(pool, t_pool_slice, items, sizeof items[0], SLICES, 1, &res),
                     MPROC_OK);
    for (i = 0; i < SLICES; i++) {
        const void *d = NULL;
        size_t n = 0;
        int code = -1;
        assert_int_equal(mproc_results_get(res, (size_t)i, &d, &n), MPROC_OK);
        assert_int_equal(n, sizeof code);
        memcpy(&code, d, sizeof code);
        assert_int_equal(code, 0);
    }
    mproc_results_destroy(res);
    for (i = 0; i < SLICES; i++)
        check_slice(s, i);
    mproc_shm_destroy(s);
    assert_int_equal(mproc_pool_close(pool), MPROC_OK);
    assert_int_equal(mproc_pool_join(pool), MPROC_OK);
    mproc_pool_destroy(pool);
    tu_assert_counts_back(&base, 10000);

    /* Bad lists are refused before anything starts. */
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.share_count = 1;
    pool = (mproc_pool *)&pool;
    assert_int_equal(mproc_pool_create_ex(&pool, &o), MPROC_EINVAL);
    assert_null(pool);
    list[0] = NULL;
    o.share = list;
    assert_int_equal(mproc_pool_create_ex(&pool, &o), MPROC_EINVAL);
    assert_null(pool);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shm_create_zeroed), cmocka_unit_test(shm_bad_input),
        cmocka_unit_test(shm_child_writes),  cmocka_unit_test(shm_eight_slices),
        cmocka_unit_test(shm_hand_on),       cmocka_unit_test(shm_destroy_in_child),
        cmocka_unit_test(shm_only_listed),   cmocka_unit_test(shm_outlives_creator_hold),
        cmocka_unit_test(shm_holder_killed), cmocka_unit_test(shm_pool_workers),
    };
    return TU_RUN_SUITE(argc, argv, "shm", tests);
}
