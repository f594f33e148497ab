/* The one check of a function pointer that every start method makes before using it. */
#include "runtime.h"

int mproc__fn_check(mproc__fn fn)
{
    char module[4096];
    uint64_t offset;
    mproc__fn back = NULL;
    int r;

    if (fn == NULL)
        return MPROC_ENOFUNC;
    r = mproc__os_fn_locate(fn, module, sizeof module, &offset);
    if (r < 0)
        return r;
    /* Resolving here checks what a spawned child would: the offset lands in the module's code.
     * A fork child, a copy of this process, then finds it at the same address. */
    r = mproc__os_fn_resolve(module, offset, &back);
    if (r < 0 || back != fn)
        return MPROC_ENOFUNC;
    return MPROC_OK;
}
