/**
 * @file mproc/ipc.h
 * @brief Objects that processes share: handing them to a child, shared memory, pipes.
 *
 * Included by mproc.h (include that one). A child gets an object only when its parent lists it
 * in mproc_process_options::share (or mproc_pool_options::share: every worker gets them), and
 * takes it back by position with the mproc_child_<kind>() call of its kind, the same way under
 * fork, spawn and Windows. Nothing that is not listed crosses.
 *
 * In the child the object is the child's own: its `*_destroy` drops the child's hold only, and
 * the child may hand it on to children of its own. What the child does not destroy is released
 * when it exits.
 */
#ifndef MPROC_IPC_H
#define MPROC_IPC_H

#include "../mproc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/** @name Handing objects to a child */
/**@{*/

/**
 * How many objects the parent handed to this process (mproc_process_options::share or
 * mproc_pool_options::share); 0 in a process that was handed none, and in the main program.
 *
 * @return the count; index i < count is valid for the mproc_child_<kind>() call of the i-th
 *         object's kind.
 */
MPROC_API size_t mproc_child_share_count(void);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Shared memory */
/**@{*/

/** A block of shared memory (opaque). */
typedef struct mproc_shm mproc_shm;

/**
 * Creates a zeroed block of `size` bytes, mapped in this process, to be handed to children
 * (mproc_shm_shared()). It is anonymous: no name in /dev/shm or in the Windows namespace, so
 * nothing is left behind when every process holding it has ended, however it ended (SIGKILL
 * included). Each process maps it at an address of its own: store offsets in it, never pointers.
 *
 * Thread-safe (the new object is the caller's).
 *
 * @param out receives the block, freed with mproc_shm_destroy(); NULL on failure.
 * @param size its size in bytes, at least 1.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, size 0), MPROC_ENOMEM, MPROC_ESYS (the system
 *         refuses: a size past what it can map, or too many open files).
 */
MPROC_API int mproc_shm_create(mproc_shm **out, size_t size);

/**
 * The block's first byte in this process (aligned for any type, page-aligned in practice).
 *
 * @param s the block, or NULL (NULL).
 * @return its address here, valid until mproc_shm_destroy(); another process sees the same
 *         bytes at an address of its own.
 */
MPROC_API void *mproc_shm_ptr(mproc_shm *s);

/**
 * The block's size.
 *
 * @param s the block, or NULL (0).
 * @return the size given to mproc_shm_create().
 */
MPROC_API size_t mproc_shm_size(const mproc_shm *s);

/**
 * The block as an entry of mproc_process_options::share or mproc_pool_options::share.
 *
 * @param s the block, or NULL (NULL, which the options refuse with MPROC_EINVAL).
 * @return a pointer owned by s, valid as long as s.
 */
MPROC_API mproc_shared *mproc_shm_shared(mproc_shm *s);

/**
 * In a child: the block its parent handed it at position `index` of the share list. The block
 * belongs to the child; every call for the same index gives the same block, until the child
 * destroys it.
 *
 * @param index the position in the parent's share list.
 * @param out receives the block; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, no object at index, or one of another kind),
 *         MPROC_ESTATE (this process destroyed it already).
 */
MPROC_API int mproc_child_shm(size_t index, mproc_shm **out);

/**
 * Unmaps the block here and drops this process's hold; the memory is freed once no process
 * holds it. In a child it drops the child's hold only. NULL is fine.
 *
 * @param s the block, or NULL; invalid after the call, as is every pointer into it here.
 */
MPROC_API void mproc_shm_destroy(mproc_shm *s);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* MPROC_IPC_H */
