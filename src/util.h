/* The front end's utilities, shared by every file of src/ and by the backends: the allocator,
 * the byte buffer, the error helpers. Nothing here names an OS or calls one. */
#ifndef MPROC_UTIL_H
#define MPROC_UTIL_H

#include "mproc.h"
#include "testhooks.h" /* the test hooks, declared once for their definitions and the suites */

#include <stddef.h>
#include <stdint.h>

/* ---- memory (src/alloc.c): one pair, so tests can inject failures ---- */
void *mproc__malloc(size_t n);
void *mproc__calloc(size_t n, size_t size);
void *mproc__realloc(void *p, size_t n);
/* Grows the array p of *cap elements of size bytes to hold at least need > *cap of them:
 * first elements the first time, then doubling. Returns the new array and sets *cap, or NULL
 * (p and *cap unchanged) when the allocation fails or the size would overflow. */
void *mproc__grow(void *p, size_t *cap, size_t need, size_t size, size_t first);
void mproc__free(void *p);
char *mproc__strdup(const char *s);

/* ---- growable byte buffer (src/buf.c) ---- */
typedef struct mproc__buf {
    unsigned char *data;
    size_t len; /* bytes held, from data[0] */
    size_t pos; /* bytes already consumed, from data[0] */
    size_t cap;
} mproc__buf;

int mproc__buf_reserve(mproc__buf *b, size_t extra); /* room for len + extra */
int mproc__buf_append(mproc__buf *b, const void *data, size_t n);
void mproc__buf_consume(mproc__buf *b, size_t n);          /* pos += n; compacts when cheap */
size_t mproc__buf_avail(const mproc__buf *b);              /* len - pos */
const unsigned char *mproc__buf_head(const mproc__buf *b); /* the unread bytes (or NULL) */
void mproc__buf_free(mproc__buf *b);

/* ---- errors (src/error.c) ---- */
/* Records the OS error of a failed call for mproc_last_os_error() and returns MPROC_ESYS. */
int mproc__sys_error(long os_error);

#endif /* MPROC_UTIL_H */
