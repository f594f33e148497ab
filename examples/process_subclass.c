/*
 * The seed's section 2: a process with behaviour and state of its own.
 *
 * Python subclasses Process and overrides run(); fields set in __init__ go to the child with the
 * object. C has no classes, so the "class" is a state record plus the function that plays run().
 * The record crosses to the child as bytes, which is also what pickling the object does.
 */
#include "example_util.h"

#include <stdio.h>
#include <string.h>

/* class myProcess(multiprocessing.Process): its state. */
struct my_process {
    char name[32];
    int times;
};

/* def run(self): the target receives its own copy of the record. */
static int my_process_run(const void *arg, size_t arg_len)
{
    struct my_process self;
    int i;

    /* The copy is aligned, but checking the size keeps a mismatched caller from reading past it. */
    if (arg_len != sizeof self)
        return 1;
    memcpy(&self, arg, sizeof self);
    for (i = 0; i < self.times; i++) {
        printf("run in %s\n", self.name);
        fflush(stdout);
    }
    return 0;
}

/* myProcess(): __init__ fills the state, then the base "constructor" makes the process. */
static int my_process_create(mproc_process **out, int times)
{
    struct my_process self;

    memset(&self, 0, sizeof self); /* no stray bytes of our stack travel to the child */
    strcpy(self.name, "myProcess");
    self.times = times;

    /* Fields left out are zero, which means "default". create copies arg and name, so self may
     * go out of scope once it returns. */
    mproc_process_options opts = {
        .target = my_process_run, .arg = &self, .arg_len = sizeof self, .name = self.name};
    return mproc_process_create_ex(out, &opts);
}

int main(int argc, char **argv)
{
    mproc_process *p;
    int code;

    /* The guard, the C form of Python's `if __name__ == "__main__":`. A spawned child (always
     * on Windows, which has no fork) runs this same executable again from the top; mproc_init
     * sends it to its target and ends it there, so only the parent gets past this line. */
    ex_check(mproc_init(argc, argv), "mproc_init");

    ex_check(my_process_create(&p, 1), "my_process_create");
    ex_check(mproc_process_start(p), "mproc_process_start");
    ex_check(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join");
    ex_check(mproc_process_exitcode(p, &code), "mproc_process_exitcode");
    printf("%s exit code: %d\n", mproc_process_name(p), code);
    fflush(stdout);
    mproc_process_destroy(p);
    return code == 0 ? 0 : 1;
}
