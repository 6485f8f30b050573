/*
 * padim_emu.h - the CPU emulator's own C API (tests/emu, README.md there), beside the
 * CUDA runtime subset of cuda_runtime_api.h: the text of the last diagnostic, resetting
 * the error state between deliberate failures in the harness's self-test, and
 * AddressSanitizer poisoning of test memory (guard bands). Only emulated builds have it.
 */
#ifndef PADIM_EMU_H
#define PADIM_EMU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The full text of the last diagnostic ("" when none): kernel, block, thread, what went
 * wrong and where (file:line of the barrier or shuffle). Valid until the next error. */
const char *padim_emu_last_message(void);

/* Forget the last and the sticky error (a real context would need a reset). */
void padim_emu_clear_errors(void);

/* quiet = 1: diagnostics are kept for padim_emu_last_message but not printed on stderr
 * (for the self-test's expected failures). Default 0. */
void padim_emu_set_quiet(int quiet);

/* Under AddressSanitizer, poison (poison = 1) or unpoison (0) [ptr, ptr + bytes): any
 * access to poisoned bytes is reported at once. No effect without ASan. */
void padim_emu_poison(const void *ptr, size_t bytes, int poison);

#ifdef __cplusplus
}
#endif
#endif
