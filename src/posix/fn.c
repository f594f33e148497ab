/* Function pointers across processes: "which loaded module, at which offset from its base". */
#define _GNU_SOURCE
#include "posix.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>
#if !defined(__APPLE__)
    #include <dlfcn.h>
    #include <link.h>
#endif

#if !defined(__APPLE__)

/* Does the module whose header this is map addr in one of its loaded segments (executable
 * ones only when exec_only)? addr and the segments are measured from the module's base. */
static int module_maps(const struct dl_phdr_info *info, uint64_t off, int exec_only)
{
    ElfW(Half) i;

    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (exec_only && !(ph->p_flags & PF_X)))
            continue;
        if (off >= (uint64_t)ph->p_vaddr && off - (uint64_t)ph->p_vaddr < (uint64_t)ph->p_memsz)
            return 1;
    }
    return 0;
}

typedef struct locate_ctx {
    uintptr_t addr;
    int index;  /* entries seen so far: the first one is the executable */
    int status; /* MPROC_OK once found and copied; MPROC_ENOFUNC until then */
    char *module;
    size_t module_cap;
    uint64_t offset;
} locate_ctx;

static int locate_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    locate_ctx *c = data;
    int first = c->index++ == 0;
    uintptr_t base = (uintptr_t)info->dlpi_addr;
    const char *name;
    size_t len;

    (void)size;
    if (c->addr < base || !module_maps(info, (uint64_t)(c->addr - base), 0))
        return 0;
    /* The name is copied here, while the loader's lock keeps the module from going away. A
     * library without a name (a vDSO on some systems) cannot be found again elsewhere. */
    name = first ? "" : info->dlpi_name;
    if (name == NULL || (!first && name[0] == '\0'))
        return 1;
    len = strlen(name);
    if (len >= c->module_cap) {
        c->status = MPROC_ETOOBIG;
        return 1;
    }
    memcpy(c->module, name, len + 1);
    c->offset = (uint64_t)(c->addr - base);
    c->status = MPROC_OK;
    return 1;
}

int mproc__os_fn_locate(mproc__fn fn, char *module, size_t module_cap, uint64_t *offset)
{
    locate_ctx c;
    assert(fn != NULL && module != NULL && module_cap > 0 && offset != NULL);

    memset(&c, 0, sizeof c);
    /* ISO C has no function-to-object pointer conversion; the integer one is what we need. */
    c.addr = (uintptr_t)fn;
    c.status = MPROC_ENOFUNC;
    c.module = module;
    c.module_cap = module_cap;
    dl_iterate_phdr(locate_cb, &c);
    if (c.status == MPROC_OK)
        *offset = c.offset;
    return c.status;
}

typedef struct resolve_ctx {
    const char *name; /* "" for the executable */
    uint64_t offset;
    int index;
    int found;  /* the module is loaded */
    int mapped; /* and the offset lands in its code */
    uintptr_t base;
} resolve_ctx;

static int resolve_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    resolve_ctx *c = data;
    int first = c->index++ == 0;

    (void)size;
    if (c->name[0] == '\0'
            ? !first
            : (first || info->dlpi_name == NULL || strcmp(info->dlpi_name, c->name) != 0))
        return 0;
    c->found = 1;
    c->base = (uintptr_t)info->dlpi_addr;
    c->mapped = module_maps(info, c->offset, 1);
    return 1;
}

static void resolve_find(resolve_ctx *c, const char *name, uint64_t offset)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->offset = offset;
    dl_iterate_phdr(resolve_cb, c);
}

int mproc__os_fn_resolve(const char *module, uint64_t offset, mproc__fn *fn)
{
    resolve_ctx c;
    assert(module != NULL && fn != NULL);

    *fn = NULL;
    resolve_find(&c, module, offset);
    if (!c.found && module[0] != '\0') {
        /* Not loaded here yet (the parent dlopen'ed it). The handle is never closed: the
         * function must outlive every call. */
        void *h = dlopen(module, RTLD_NOW);
        if (h == NULL)
            return MPROC_ENOFUNC;
    #if defined(__GLIBC__) || defined(RTLD_DI_LINKMAP)
        {
            /* The loader may know the file under another name (a second path to it): ask it. */
            struct link_map *lm = NULL;
            if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL && lm->l_name != NULL)
                resolve_find(&c, lm->l_name, offset);
        }
    #endif
        if (!c.found)
            resolve_find(&c, module, offset);
    }
    if (!c.found || !c.mapped || offset > UINTPTR_MAX - c.base)
        return MPROC_ENOFUNC;
    {
        uintptr_t addr = c.base + (uintptr_t)offset;
        /* The converse of locate's cast; the address was checked to be code of that module. */
        *fn = (mproc__fn)addr;
    }
    return MPROC_OK;
}

/* What a fork child inherits from the loader is what was loaded at the fork. dlpi_subs counts
 * unloads: while it is unchanged, the first nmods modules are those of the snapshot, at the
 * same addresses (new ones are only ever appended). */
typedef struct gen_ctx {
    uintptr_t addr; /* 0: count only */
    int index;
    int found; /* index of addr's module, or -1 */
    int counts_ok;
    uint64_t subs;
} gen_ctx;

static int gen_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    gen_ctx *c = data;
    int here = c->index++;
    uintptr_t base = (uintptr_t)info->dlpi_addr;

    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c->counts_ok = 1;
        c->subs = (uint64_t)info->dlpi_subs;
    }
    if (c->addr != 0 && c->found < 0 && c->addr >= base &&
        module_maps(info, (uint64_t)(c->addr - base), 1))
        c->found = here;
    return 0;
}

void mproc__os_fn_gen(mproc__fn_gen *g)
{
    gen_ctx c;
    memset(&c, 0, sizeof c);
    c.found = -1;
    dl_iterate_phdr(gen_cb, &c);
    g->valid = c.counts_ok;
    g->nmods = c.index;
    g->subs = c.subs;
}

int mproc__os_fn_same_in_fork(mproc__fn fn, const mproc__fn_gen *g)
{
    gen_ctx c;
    if (fn == NULL || g == NULL || !g->valid)
        return 0;
    memset(&c, 0, sizeof c);
    c.addr = (uintptr_t)fn;
    c.found = -1;
    dl_iterate_phdr(gen_cb, &c);
    return c.counts_ok && c.found >= 0 && c.found < g->nmods && c.subs == g->subs;
}

#else /* __APPLE__ */

/* macOS has no dl_iterate_phdr; the dyld image list would serve, but nothing runs it here
 * yet, so functions cannot be checked or named there (MPROC_ENOTSUP). */
void mproc__os_fn_gen(mproc__fn_gen *g)
{
    g->valid = 0;
    g->nmods = 0;
    g->subs = 0;
}

int mproc__os_fn_same_in_fork(mproc__fn fn, const mproc__fn_gen *g)
{
    (void)fn;
    (void)g;
    return 0;
}

int mproc__os_fn_locate(mproc__fn fn, char *module, size_t module_cap, uint64_t *offset)
{
    assert(fn != NULL && module != NULL && module_cap > 0 && offset != NULL);
    (void)fn;
    (void)module;
    (void)module_cap;
    (void)offset;
    return MPROC_ENOTSUP;
}

int mproc__os_fn_resolve(const char *module, uint64_t offset, mproc__fn *fn)
{
    assert(module != NULL && fn != NULL);
    (void)module;
    (void)offset;
    if (fn != NULL)
        *fn = NULL;
    return MPROC_ENOTSUP;
}

#endif
