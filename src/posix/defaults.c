/* What the POSIX backend does when the caller leaves a choice to it. */
#include "../backend.h"

int mproc__os_default_method(void)
{
    /* As Python on Linux: fork is the cheapest start and shares the parent's state. */
    return MPROC_START_FORK;
}
