/* The part of MSVC's C runtime that lives in its static start-up library (msvcrt.lib's
 * mainCRTStartup; crt_dll.c and crt_common.c hold the rest), which the msvc-wine build does not
 * have: Wine ships the DLLs (ucrtbase, vcruntime140) and their import libraries, not the static
 * objects of Visual Studio. cmake/clang-cl-msvc.cmake compiles this file into a small library that
 * every program and DLL of that toolchain links, so a consumer project needs nothing of its own.
 * With real MSVC none of this is used. */
#include <stdlib.h>

int __cdecl main(int argc, char **argv);

/* ucrtbase's start-up calls; declared here because they are the CRT's internal interface. */
__declspec(dllimport) int __cdecl _configure_narrow_argv(int mode);
__declspec(dllimport) int __cdecl _initialize_narrow_environment(void);
__declspec(dllimport) void __cdecl _set_app_type(int type);

/* The console program's entry point (lld-link's default for /subsystem:console). */
void __cdecl mainCRTStartup(void)
{
    _set_app_type(1);          /* _crt_console_app */
    _configure_narrow_argv(1); /* _crt_argv_unexpanded_arguments */
    _initialize_narrow_environment();
    exit(main(*__p___argc(), *__p___argv()));
}
