/* What any module of the msvc-wine build may reference from MSVC's static start-up library (see
 * crt_main.c): _fltused and atexit. In an object of its own, so a DLL gets them without the
 * program's entry point. */
#include <stdlib.h>

__declspec(dllimport) int __cdecl _crt_atexit(void(__cdecl *fn)(void));

/* The compiler references it from any object that uses floating point. */
int _fltused = 0x9875;

/* atexit is not exported by ucrtbase: the static CRT keeps a table per module. Here all modules
 * share the process's table, which ucrtbase's exit() runs. The headers declare atexit
 * dllimport, so callers go through __imp_atexit. */
static int __cdecl startup_atexit(void(__cdecl *fn)(void))
{
    return _crt_atexit(fn);
}
int(__cdecl *__imp_atexit)(void(__cdecl *)(void)) = startup_atexit;
