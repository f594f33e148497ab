/* Thread-local storage support of MSVC's static start-up library, for the msvc-wine build (see
 * crt_main.c): a module with __declspec(thread) variables (cmocka has one) needs the TLS
 * directory that the loader reads. The variables sit in .tls$ sections, which the linker sorts
 * between the .tls start marker and the .tls$ZZZ end marker; _tls_used, which lld-link makes the
 * image's TLS directory, points at both and at _tls_index, where the loader puts the module's
 * slot. The callback list (.CRT$XL*) is empty. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

ULONG _tls_index = 0;

#pragma data_seg(".tls")
char _tls_start = 0;
#pragma data_seg(".tls$ZZZ")
char _tls_end = 0;
#pragma data_seg()

#pragma section(".CRT$XLA", long, read)
__declspec(allocate(".CRT$XLA")) PIMAGE_TLS_CALLBACK __xl_a = 0;
#pragma section(".CRT$XLZ", long, read)
__declspec(allocate(".CRT$XLZ")) PIMAGE_TLS_CALLBACK __xl_z = 0;

#pragma section(".rdata$T", long, read)
__declspec(allocate(".rdata$T")) const IMAGE_TLS_DIRECTORY64 _tls_used = {(ULONGLONG)&_tls_start,
                                                                          (ULONGLONG)&_tls_end,
                                                                          (ULONGLONG)&_tls_index,
                                                                          (ULONGLONG)(&__xl_a + 1),
                                                                          0,
                                                                          0};
