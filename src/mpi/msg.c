/* The component's messages: an outbox of nonblocking sends, and the receiving of whatever came. */
#define _GNU_SOURCE
#include "transport.h"

#include <stdlib.h>
#include <string.h>

typedef struct sent {
    MPI_Request req;
    unsigned char *buf;
    int dest;
} sent;

static sent *box;
static size_t nbox, capbox;

uint32_t mproc__mpi_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void mproc__mpi_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

int mproc__mpi_send(int dest, int tag, uint32_t id, const void *a, size_t alen, const void *b,
                    size_t blen)
{
    size_t n = 4 + alen + blen;
    unsigned char *buf;

    if (n > (size_t)0x7fffffff)
        return MPROC_ETOOBIG;
    if (nbox == capbox) {
        size_t cap = capbox ? 2 * capbox : 64;
        sent *nb = realloc(box, cap * sizeof *nb);
        if (nb == NULL)
            return MPROC_ENOMEM;
        box = nb;
        capbox = cap;
    }
    buf = malloc(n);
    if (buf == NULL)
        return MPROC_ENOMEM;
    mproc__mpi_put32(buf, id);
    if (alen > 0)
        memcpy(buf + 4, a, alen);
    if (blen > 0)
        memcpy(buf + 4 + alen, b, blen);
    if (MPI_Isend(buf, (int)n, MPI_BYTE, dest, tag, mproc__mpi.comm, &box[nbox].req) !=
        MPI_SUCCESS) {
        free(buf);
        return MPROC_ESYS;
    }
    box[nbox].dest = dest;
    box[nbox++].buf = buf;
    return MPROC_OK;
}

int mproc__mpi_progress(void)
{
    size_t i = 0;
    while (i < nbox) {
        int done = 0;
        if (MPI_Test(&box[i].req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            done = 1; /* MPI_ERRORS_RETURN and a peer gone: the bytes go nowhere */
        if (done) {
            free(box[i].buf);
            box[i] = box[--nbox];
        } else {
            i++;
        }
    }
    return nbox > 0;
}

double mproc__mpi_now_ms(void)
{
    return MPI_Wtime() * 1000.0;
}

void mproc__mpi_flush(long limit_ms)
{
    double end = mproc__mpi_now_ms() + (double)limit_ms;
    while (mproc__mpi_progress()) {
        /* The peers receive as they serve. One that does not (dead, under Open MPI's
         * --enable-recovery) would hold us here for good: its sends are left behind. */
        if (mproc__mpi_now_ms() > end) {
            nbox = 0;
            return;
        }
    }
}

void mproc__mpi_forget(int dest)
{
    size_t i = 0;
    while (i < nbox) {
        if (box[i].dest == dest) {
            /* Never freed: MPI may still read it (a cancel of a send is not to be relied on). */
            box[i] = box[--nbox];
        } else {
            i++;
        }
    }
}

int mproc__mpi_recv(int *source, int *tag, unsigned char **data, size_t *len)
{
    MPI_Message msg;
    MPI_Status st;
    int flag = 0, count = 0;

    if (MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, mproc__mpi.comm, &flag, &msg, &st) !=
            MPI_SUCCESS ||
        !flag)
        return 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    /* A matched message must be received: without memory for it, wait for some. */
    while ((*data = malloc(count > 0 ? (size_t)count : 1)) == NULL)
        mproc__mpi_progress();
    if (MPI_Mrecv(*data, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        free(*data);
        *data = NULL;
        return 0;
    }
    *source = st.MPI_SOURCE;
    *tag = st.MPI_TAG;
    *len = (size_t)count;
    return 1;
}
