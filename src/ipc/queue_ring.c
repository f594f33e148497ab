/* The queue's ring: checking the header and records other processes wrote, writing them. */
#include "queue_in.h"

#include <string.h>

uint64_t mproc__q_round16(uint64_t n)
{
    return (n + 15u) & ~(uint64_t)15u;
}

int mproc__queue_check_header(const mproc__qhdr *h, size_t size)
{
    uint64_t used;
    if (h->magic != MPROC__QUEUE_MAGIC || h->version != MPROC__QUEUE_VERSION)
        return MPROC_EPROTO;
    /* The capacities are the library's constants: this process's pointers into the region were
     * placed by them, so another value would send a copy outside. */
    if (h->ring_cap != QRING_CAP || h->big_cap != QBIG_CAP ||
        (uint64_t)size < QHDR_BYTES + QRING_CAP + QBIG_CAP)
        return MPROC_EPROTO;
    if (h->head > h->tail || h->head % 16u != 0 || h->tail % 16u != 0)
        return MPROC_EPROTO;
    used = h->tail - h->head;
    if (used > h->ring_cap || h->count > used / 16u || h->closed > 1u || h->j_valid > 1u ||
        h->big_state > MPROC__QBIG_ABORTED)
        return MPROC_EPROTO;
    if (h->big_r > h->big_w || h->big_w > h->big_len || h->big_w - h->big_r > h->big_cap)
        return MPROC_EPROTO;
    return MPROC_OK;
}

int mproc__queue_check_record(const mproc__qhdr *h, const unsigned char *ring, uint64_t off,
                              uint32_t *type, uint64_t *len, uint64_t *step)
{
    mproc__qrec rec;
    uint64_t pos = off % h->ring_cap, room = h->tail - off, to_end = h->ring_cap - pos;
    if (off < h->head || off >= h->tail || room < QREC_HDR || to_end < QREC_HDR)
        return MPROC_EPROTO;
    memcpy(&rec, ring + pos, sizeof rec);
    if (rec.check != (rec.type ^ (uint32_t)rec.len ^ MPROC__QREC_SALT))
        return MPROC_EPROTO;
    switch (rec.type) {
    case MPROC__QREC_MSG:
        if (rec.len > to_end - QREC_HDR || QREC_HDR + mproc__q_round16(rec.len) > room)
            return MPROC_EPROTO;
        *step = QREC_HDR + mproc__q_round16(rec.len);
        break;
    case MPROC__QREC_PAD:
        if (rec.len != to_end || rec.len > room)
            return MPROC_EPROTO;
        *step = rec.len;
        break;
    case MPROC__QREC_BIG:
        if (QBIG_REC > room || QBIG_REC > to_end || rec.len <= QSMALL_MAX - QREC_HDR)
            return MPROC_EPROTO;
        *step = QBIG_REC;
        break;
    default:
        return MPROC_EPROTO;
    }
    *type = rec.type;
    *len = rec.len;
    return MPROC_OK;
}

void mproc__q_write_rec(unsigned char *at, uint32_t type, uint64_t len)
{
    mproc__qrec rec;
    rec.type = type;
    rec.len = len;
    rec.check = type ^ (uint32_t)len ^ MPROC__QREC_SALT;
    memcpy(at, &rec, sizeof rec);
}
