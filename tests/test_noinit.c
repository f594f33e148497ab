/* A program that forgets mproc_init(): starting a process must fail with MPROC_ENOINIT and a
 * message that names the fix, never start anything. This main deliberately does NOT call
 * mproc_init(). */
#include "mproc.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static int t_return_zero(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}

static void check_start_refused(void)
{
    mproc_process *p = NULL;
    int code = 0;

    assert_int_equal(mproc_process_create(&p, t_return_zero, NULL, 0), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_ENOINIT);
    assert_int_equal(mproc_process_is_alive(p), 0);
    assert_int_equal(mproc_process_pid(p), 0);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_ESTATE);
    mproc_process_destroy(p);
}

static void test_start_without_init(void **state)
{
    (void)state;
    check_start_refused();
}

static void test_enoinit_message_names_the_fix(void **state)
{
    (void)state;
    assert_non_null(strstr(mproc_strerror(MPROC_ENOINIT), "mproc_init"));
    assert_string_equal(mproc_error_name(MPROC_ENOINIT), "MPROC_ENOINIT");
}

/* A call of mproc_init() with bad arguments fails and does not count as the guard. */
static void test_failed_init_is_no_init(void **state)
{
    char *argv[] = {NULL};
    (void)state;
    assert_int_equal(mproc_init(-1, argv), MPROC_EINVAL);
    assert_int_equal(mproc_init(1, NULL), MPROC_EINVAL);
    check_start_refused();
}

int main(int argc, char **argv)
{
    /* CTest runs this without arguments. A guard broken enough to start a child anyway would
     * spawn this executable again with its own arguments: end there instead of running the
     * suite (and starting children) again and again. */
    (void)argv;
    if (argc > 1) {
        return 3;
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_without_init),
        cmocka_unit_test(test_enoinit_message_names_the_fix),
        cmocka_unit_test(test_failed_init_is_no_init),
    };
    return cmocka_run_group_tests_name("noinit", tests, NULL, NULL);
}
