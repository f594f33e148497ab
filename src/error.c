/* Error codes to sentences, from the one list in mproc.h. */
#include "backend.h"

const char *mproc_strerror(int code)
{
    switch (code) {
    case MPROC_OK:
        return "success";
#define MPROC__ERRNO_TEXT(name, value, text)                                                       \
    case MPROC_##name:                                                                             \
        return text;
        MPROC_ERRNO_MAP(MPROC__ERRNO_TEXT)
#undef MPROC__ERRNO_TEXT
    default:
        return "unknown error";
    }
}

const char *mproc_err_name(int code)
{
    switch (code) {
    case MPROC_OK:
        return "MPROC_OK";
#define MPROC__ERRNO_NAME(name, value, text)                                                       \
    case MPROC_##name:                                                                             \
        return "MPROC_" #name;
        MPROC_ERRNO_MAP(MPROC__ERRNO_NAME)
#undef MPROC__ERRNO_NAME
    default:
        return "MPROC_E?";
    }
}

int mproc__sys_error(long os_error)
{
    mproc__os_set_last_error(os_error);
    return MPROC_ESYS;
}

long mproc_last_os_error(void)
{
    return mproc__os_get_last_error();
}
