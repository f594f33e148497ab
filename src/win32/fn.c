/* Function pointers across spawn: "which module, at which offset" and back. */
#include "win32.h"

#include <assert.h>
#include <string.h>

int mproc__os_fn_locate(mproc__fn fn, char *module, size_t module_cap, uint64_t *offset)
{
    HMODULE mod = NULL;
    wchar_t *path;
    int n;
    assert(fn != NULL && module != NULL && module_cap > 0 && offset != NULL);

    module[0] = '\0';
    /* Through an integer: ISO C has no cast between function and object pointers. */
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCWSTR)(uintptr_t)fn, &mod))
        return MPROC_ENOFUNC; /* not in any module: generated code, say */
    *offset = (uint64_t)((uintptr_t)fn - (uintptr_t)mod);
    if (mod == GetModuleHandleW(NULL))
        return MPROC_OK;

    path = mproc__w32_module_path(mod);
    if (path == NULL)
        return GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? MPROC_ENOMEM : MPROC_ENOFUNC;
    /* A name with an unpaired surrogate has no UTF-8 form: the child could not find it. */
    n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, path, -1, NULL, 0, NULL, NULL);
    if (n <= 0) {
        mproc__free(path);
        return MPROC_ENOFUNC;
    }
    if ((size_t)n > module_cap) {
        mproc__free(path);
        return MPROC_ETOOBIG;
    }
    n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, path, -1, module, (int)module_cap, NULL,
                            NULL);
    mproc__free(path);
    if (n <= 0) {
        module[0] = '\0';
        return MPROC_ENOFUNC;
    }
    return MPROC_OK;
}

/* Whether offset lands in an executable section of the loaded image at base. The headers of
 * a module the loader mapped are always readable; they are still checked for sanity. */
static int in_code(HMODULE base, uint64_t offset)
{
    const unsigned char *b = (const unsigned char *)base;
    const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)b;
    const IMAGE_NT_HEADERS *nt;
    const IMAGE_SECTION_HEADER *sec;
    DWORD size, i;

    if (dos->e_magic != IMAGE_DOS_SIGNATURE || dos->e_lfanew <= 0 || dos->e_lfanew > 0x10000)
        return 0;
    nt = (const IMAGE_NT_HEADERS *)(b + dos->e_lfanew);
    if (nt->Signature != IMAGE_NT_SIGNATURE ||
        nt->OptionalHeader.Magic != IMAGE_NT_OPTIONAL_HDR_MAGIC)
        return 0;
    size = nt->OptionalHeader.SizeOfImage;
    if (offset >= size)
        return 0;
    sec = IMAGE_FIRST_SECTION(nt);
    for (i = 0; i < nt->FileHeader.NumberOfSections; i++) {
        DWORD va = sec[i].VirtualAddress;
        DWORD len = sec[i].Misc.VirtualSize != 0 ? sec[i].Misc.VirtualSize : sec[i].SizeOfRawData;
        if ((sec[i].Characteristics & IMAGE_SCN_MEM_EXECUTE) && offset >= va && offset - va < len)
            return 1;
    }
    return 0;
}

/* An absolute path: drive ("C:\..."), UNC ("\\server\..."), or "\\?\"-prefixed. */
static int is_absolute(const wchar_t *p)
{
    return (p[0] != L'\0' && p[1] == L':' && (p[2] == L'\\' || p[2] == L'/')) ||
           (p[0] == L'\\' && p[1] == L'\\');
}

static HMODULE load_module(const char *module)
{
    HMODULE mod;
    wchar_t *wide;
    DWORD old_mode;
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, module, -1, NULL, 0);

    if (n <= 0)
        return NULL;
    wide = mproc__malloc((size_t)n * sizeof *wide);
    if (wide == NULL)
        return NULL;
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, module, -1, wide, n) != n) {
        mproc__free(wide);
        return NULL;
    }
    mod = GetModuleHandleW(wide);
    if (mod == NULL) {
        /* No "cannot find" dialog; the DLL's own dependencies are looked for beside it, as
         * they were when the parent loaded it from there. The module stays loaded. */
        SetThreadErrorMode(SEM_FAILCRITICALERRORS | SEM_NOOPENFILEERRORBOX, &old_mode);
        mod = LoadLibraryExW(wide, NULL, is_absolute(wide) ? LOAD_WITH_ALTERED_SEARCH_PATH : 0);
        SetThreadErrorMode(old_mode, NULL);
    }
    mproc__free(wide);
    return mod;
}

int mproc__os_fn_resolve(const char *module, uint64_t offset, mproc__fn *fn)
{
    HMODULE mod;
    assert(module != NULL && fn != NULL);

    *fn = NULL;
    mod = module[0] == '\0' ? GetModuleHandleW(NULL) : load_module(module);
    if (mod == NULL || !in_code(mod, offset))
        return MPROC_ENOFUNC;
    *fn = (mproc__fn)((uintptr_t)mod + (uintptr_t)offset);
    return MPROC_OK;
}

/* Windows has no fork: nothing is ever known to sit at the parent's address in a child. */
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
