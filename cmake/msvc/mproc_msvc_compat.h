/* Force-included by cmake/clang-cl-msvc.cmake: declarations that real MSVC's headers have and
 * Wine's MSVC-compatible ones (the stand-in SDK of the msvc-wine build) lack. Each is exported by
 * the DLL Wine ships, so only the declaration is missing. Nothing of mproc's src/ needs to know. */
#ifndef MPROC_MSVC_COMPAT_H
#define MPROC_MSVC_COMPAT_H

#ifdef __cplusplus
extern "C" {
#endif

/* <stdlib.h>: ucrtbase.dll exports it; Wine's header leaves it out. */
#ifndef _WRITE_ABORT_MSG
    #define _WRITE_ABORT_MSG 0x1
    #define _CALL_REPORTFAULT 0x2
#endif
__declspec(dllimport) unsigned int __cdecl _set_abort_behavior(unsigned int flags,
                                                               unsigned int mask);

/* <processthreadsapi.h>: kernel32.dll exports it; Wine's winbase.h leaves it out. */
__declspec(dllimport) int __stdcall SetThreadStackGuarantee(unsigned long *size);
__declspec(dllimport) int __stdcall GetProcessHandleCount(void *process, unsigned long *count);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_MSVC_COMPAT_H */
