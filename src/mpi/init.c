/* mproc_mpi_init and its kin: MPI at the thread level mproc needs, the build check, the serving
 * ranks' entry, and the end of the job at rank 0's exit. */
#define _GNU_SOURCE
#include "transport.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const mproc__remote_api *mproc__mpi_core;
mproc__mpi_job mproc__mpi;

static int initialized;
static int finalized;
static long init_pid;
static char last_error[256];

void mproc__mpi_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *mproc_mpi_last_error(void)
{
    return last_error;
}

/* ---- the build id ---- */

struct note_search {
    unsigned char *id;
    int found;
};

/* The main executable comes first in dl_iterate_phdr's order. */
static int find_note(struct dl_phdr_info *info, size_t size, void *ctx)
{
    struct note_search *s = ctx;
    int i;
    (void)size;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const unsigned char *p, *end;
        if (ph->p_type != PT_NOTE)
            continue;
        p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)(const void *)p;
            size_t namesz = (n->n_namesz + 3u) & ~3u, descsz = (n->n_descsz + 3u) & ~3u;
            const unsigned char *desc = p + sizeof *n + namesz;
            if (desc + descsz > end)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
                memcmp(p + sizeof *n, "GNU", 4) == 0 && n->n_descsz > 0 && n->n_descsz <= 40) {
                s->id[0] = (unsigned char)n->n_descsz;
                memcpy(s->id + 1, desc, n->n_descsz);
                s->found = 1;
                return 1;
            }
            p = desc + descsz;
        }
    }
    return 1; /* the executable only */
}

/* Without a build-id note: an FNV-1a hash of the executable's bytes. */
static void hash_exe(unsigned char id[41])
{
    uint64_t h = 1469598103934665603ull;
    unsigned char buf[65536];
    size_t n, i;
    FILE *f = fopen("/proc/self/exe", "rb");
    if (f != NULL) {
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            for (i = 0; i < n; i++)
                h = (h ^ buf[i]) * 1099511628211ull;
        fclose(f);
    }
    id[0] = 8;
    for (i = 0; i < 8; i++)
        id[1 + i] = (unsigned char)(h >> (8 * i));
}

void mproc__mpi_build_id(unsigned char id[41])
{
    struct note_search s;
    memset(id, 0, 41);
    s.id = id;
    s.found = 0;
    dl_iterate_phdr(find_note, &s);
    if (!s.found)
        hash_exe(id);
}

/* ---- init ---- */

static void stand_in_die(int sig)
{
    sigset_t set;
    signal(sig, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

static const mproc__remote_method method = {mproc__mpi_workers, stand_in_die};

static void at_exit(void)
{
    /* A forked child of rank 0 (a worker, a stand-in) inherits the handler: not its business. */
    if ((long)getpid() == init_pid)
        (void)mproc_mpi_finalize();
}

static const char *level_name(int level)
{
    switch (level) {
    case MPI_THREAD_SINGLE:
        return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
        return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
        return "MPI_THREAD_SERIALIZED";
    default:
        return "MPI_THREAD_MULTIPLE";
    }
}

static int fail_finalize(int code)
{
    if (mproc__mpi.own_init)
        MPI_Finalize();
    finalized = 1;
    return code;
}

/* Every rank compares its build id with rank 0's; all learn whether any differs. */
static int check_builds(void)
{
    unsigned char mine[41], root[41];
    int bad, anybad = 0;

    mproc__mpi_build_id(mine);
    memcpy(root, mine, sizeof root);
    if (MPI_Bcast(root, (int)sizeof root, MPI_BYTE, 0, mproc__mpi.comm) != MPI_SUCCESS)
        return MPROC_ESYS;
    bad = memcmp(root, mine, sizeof mine) != 0;
    if (MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_SUM, mproc__mpi.comm) != MPI_SUCCESS)
        return MPROC_ESYS;
    if (anybad > 0) {
        mproc__mpi_set_error("%d of the %d ranks run another build of the program than rank 0 "
                             "(their executable's build id differs)%s",
                             anybad, mproc__mpi.size, bad ? ", this one among them" : "");
        return MPROC_EMISMATCH;
    }
    return MPROC_OK;
}

int mproc_mpi_init(int *argc, char ***argv)
{
    int already = 0, provided = 0, r;
    MPI_Comm parent = MPI_COMM_NULL;

    if (argc == NULL || argv == NULL)
        return MPROC_EINVAL;
    if (initialized)
        return finalized ? MPROC_ESTATE : MPROC_OK;
    last_error[0] = '\0';
    mproc__mpi_core = mproc__remote_core();
    if (mproc__mpi_core == NULL || mproc__mpi_core->size < sizeof(mproc__remote_api)) {
        mproc__mpi_set_error("libmproc is older than libmproc_mpi");
        return MPROC_ENOTSUP;
    }
    MPI_Initialized(&already);
    if (already) {
        MPI_Query_thread(&provided);
    } else {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
            mproc__mpi_set_error("MPI_Init_thread failed");
            return MPROC_ESYS;
        }
        mproc__mpi.own_init = 1;
    }
    initialized = 1;
    if (provided < MPI_THREAD_MULTIPLE) {
        mproc__mpi_set_error("the MPI library gives thread level %s; mproc needs "
                             "MPI_THREAD_MULTIPLE (its pool thread talks MPI beside the program)",
                             level_name(provided));
        return fail_finalize(MPROC_ENOTSUP);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &mproc__mpi.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mproc__mpi.size);
    mproc__mpi.argv = *argv;
    /* The guard: on every rank a plain mproc_init (a rank is no child of ours). */
    if ((r = mproc__mpi_core->init(*argc, *argv)) < 0)
        return fail_finalize(r);

    MPI_Comm_get_parent(&parent);
    if (parent != MPI_COMM_NULL) {
        /* Spawned by a dynamic-mode pool: check the build against the parent's, then serve. */
        unsigned char root[41], mine[41], ok;
        mproc__mpi.comm = parent;
        mproc__mpi.dynamic = 1;
        mproc__mpi.rank++; /* serving ranks are 1..n, as in a static job */
        MPI_Recv(root, (int)sizeof root, MPI_BYTE, 0, MSG_BUILD, parent, MPI_STATUS_IGNORE);
        mproc__mpi_build_id(mine);
        ok = memcmp(root, mine, sizeof mine) == 0;
        MPI_Send(&ok, 1, MPI_BYTE, 0, MSG_BUILD, parent);
        if (ok) {
            mproc__mpi_serve(parent, 0);
        } else {
            /* Another build: it serves nothing (the parent refuses its pools) until the end. */
            unsigned char *d;
            size_t len;
            int src, tag, done = 0;
            while (!done)
                while (!done && mproc__mpi_recv(&src, &tag, &d, &len)) {
                    done = tag == MSG_EXIT;
                    free(d);
                }
        }
        MPI_Comm_disconnect(&parent);
        MPI_Finalize();
        exit(0);
    }

    if (MPI_Comm_dup(MPI_COMM_WORLD, &mproc__mpi.comm) != MPI_SUCCESS) {
        mproc__mpi_set_error("MPI_Comm_dup failed");
        return fail_finalize(MPROC_ESYS);
    }
    r = check_builds();
    if (r < 0) {
        MPI_Comm_free(&mproc__mpi.comm);
        return fail_finalize(r);
    }
    if (mproc__mpi.rank != 0) {
        mproc__mpi_serve(mproc__mpi.comm, 0);
        MPI_Comm_free(&mproc__mpi.comm);
        if (mproc__mpi.own_init)
            MPI_Finalize();
        exit(0);
    }
    mproc__mpi.peers = mproc__mpi.size - 1;
    mproc__mpi.peer_base = 1;
    init_pid = (long)getpid();
    mproc__mpi_core->install(&method);
    if (mproc__mpi.peers > 0 && (r = mproc__mpi_master_start()) < 0) {
        mproc__mpi_set_error("the pool's MPI thread could not start");
        return fail_finalize(r);
    }
    atexit(at_exit);
    return MPROC_OK;
}

int mproc_mpi_finalize(void)
{
    int gone = 0;
    if (!initialized)
        return MPROC_ESTATE;
    if (finalized || mproc__mpi.rank != 0)
        return MPROC_OK;
    finalized = 1;
    MPI_Finalized(&gone);
    if (gone)
        return MPROC_OK; /* the program finalized MPI itself: nothing can be sent any more */
    mproc__mpi_master_stop();
    if (mproc__mpi.dynamic)
        MPI_Comm_disconnect(&mproc__mpi.comm);
    else
        MPI_Comm_free(&mproc__mpi.comm);
    if (mproc__mpi.own_init)
        MPI_Finalize();
    return MPROC_OK;
}

int mproc_mpi_rank(void)
{
    return initialized ? mproc__mpi.rank : MPROC_ESTATE;
}

int mproc_mpi_ranks(void)
{
    return initialized ? mproc__mpi.peers : MPROC_ESTATE;
}
