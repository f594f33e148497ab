/* The DLL entry point of MSVC's static start-up library, for the msvc-wine build (see
 * crt_main.c): a DLL of plain C needs no per-module initialisation, so it only says yes. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

BOOL WINAPI _DllMainCRTStartup(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
