/* Error codes to sentences, from the one list in mproc.h. */
#include "backend.h"

/* MPROC__ERRNO_LAST must be the lowest code of the list: the wire and the exit-status checks
 * take a code below it for garbage, so a code added without moving it would be refused. The
 * build fails here (an array of size -1) when no code equals it or one lies below it. */
#define MPROC__ERRNO_NOT_BELOW(name, value, text) &&(value) >= MPROC__ERRNO_LAST
#define MPROC__ERRNO_EQUALS(name, value, text) || (value) == MPROC__ERRNO_LAST
enum {
    ERRNO_NONE_BELOW_LAST = 1 MPROC_ERRNO_MAP(MPROC__ERRNO_NOT_BELOW),
    ERRNO_ONE_IS_LAST = 0 MPROC_ERRNO_MAP(MPROC__ERRNO_EQUALS)
};
#undef MPROC__ERRNO_NOT_BELOW
#undef MPROC__ERRNO_EQUALS
typedef char mproc__errno_last_is_lowest[ERRNO_NONE_BELOW_LAST && ERRNO_ONE_IS_LAST ? 1 : -1];

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

const char *mproc_error_name(int code)
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
