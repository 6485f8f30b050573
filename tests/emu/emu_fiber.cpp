/*
 * emu_fiber.cpp - see emu_fiber.h. Why not swapcontext: glibc's swapcontext makes a system
 * call (the signal mask) on every switch, and ASan's interceptor for it clears the shadow of
 * the whole target stack each time and warns that it may give false positives; measured
 * here: ~550 ns per switch (1.4 us under ASan) against ~25 ns (~90 ns under ASan) for the
 * few instructions below, and a shuffle-heavy kernel switches tens of millions of times.
 * On x86-64 the switch is our own: push the callee-saved registers, the SSE and x87
 * control words, swap stack pointers, pop. Elsewhere (or with -DPADIM_EMU_UCONTEXT) it
 * falls back to ucontext. Either way every switch is bracketed by
 * __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber, so ASan knows the
 * live stack's bounds and keeps one fake stack (use-after-return frames) per fiber.
 */
#include "emu_fiber.h"
#include "emu_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef PADIM_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__) && !defined(PADIM_EMU_UCONTEXT)
#define PADIM_EMU_UCONTEXT 1
#endif
#ifdef PADIM_EMU_UCONTEXT
#include <ucontext.h>
#endif

namespace padim_emu {

/* Generous for kernel frames: a sanitizer report (symbolization included) runs on the
 * stack of the fiber that faulted. Pages are committed only when touched. */
static const size_t STACK_BYTES = 256 * 1024;

struct fiber {
#ifdef PADIM_EMU_UCONTEXT
    ucontext_t uc;
#else
    void *sp = nullptr; /* saved stack pointer while not running */
#endif
    char *map = nullptr; /* mapping: guard page, then the stack (nullptr: an OS thread's own) */
    size_t map_bytes = 0;
    const void *stack_lo = nullptr; /* usable stack, for the ASan annotations; learned */
    size_t stack_size = 0;          /* on the first switch away for the launching thread */
    void *fake_stack = nullptr;     /* ASan's fake stack of this fiber while switched out */
};

/* One launch runs at a time (the emulator's device lock), on the launching OS thread. */
static fiber main_fiber;
static fiber *switching_from = nullptr; /* the fiber that started a switch */

fiber *fiber_self_main() { return &main_fiber; }

void fiber_new_launch() {
    main_fiber.stack_lo = nullptr;
    main_fiber.stack_size = 0;
}

#ifndef PADIM_EMU_UCONTEXT
extern "C" void padim_emu_ctx_switch(void **save_sp, void *load_sp);
extern "C" void padim_emu_ctx_start();
/* padim_emu_ctx_switch(save_sp = rdi, load_sp = rsi). The frame it leaves on the stack,
 * from the saved stack pointer up: MXCSR (4 bytes), x87 control word (2 + 2 padding),
 * r15, r14, r13, r12, rbx, rbp, return address. fiber_create builds the same frame with
 * the return address at padim_emu_ctx_start, which calls the entry held in r12 with a
 * zero frame pointer (the end of the chain for frame-pointer unwinders). */
asm(R"(
    .text
    .p2align 4
    .globl padim_emu_ctx_switch
    .hidden padim_emu_ctx_switch
    .type padim_emu_ctx_switch, @function
padim_emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size padim_emu_ctx_switch, .-padim_emu_ctx_switch

    .p2align 4
    .globl padim_emu_ctx_start
    .hidden padim_emu_ctx_start
    .type padim_emu_ctx_start, @function
padim_emu_ctx_start:
    callq *%r12
    ud2
    .size padim_emu_ctx_start, .-padim_emu_ctx_start
)");
#endif

fiber *fiber_create(void (*entry)()) {
    fiber *f = new fiber();
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    f->map_bytes = STACK_BYTES + page;
    void *m = mmap(nullptr, f->map_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) {
        fprintf(stderr, "padim-emu: cannot map a %zu KiB fiber stack\n", STACK_BYTES / 1024);
        abort();
    }
    f->map = (char *)m;
    mprotect(f->map, page, PROT_NONE); /* a stack overflow faults instead of corrupting */
    f->stack_lo = f->map + page;
    f->stack_size = STACK_BYTES;
#ifdef PADIM_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(f->stack_lo, f->stack_size); /* stale shadow of an old map */
#endif
#ifdef PADIM_EMU_UCONTEXT
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = (void *)f->stack_lo;
    f->uc.uc_stack.ss_size = f->stack_size;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, entry, 0);
#else
    /* The top 16 bytes stay unused; the frame sits 16-byte aligned so that, after the
     * ret into padim_emu_ctx_start, the call to entry sees the ABI's alignment. */
    uintptr_t top = ((uintptr_t)f->stack_lo + f->stack_size) & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 16 - 64);
    uint32_t mxcsr;
    uint16_t fcw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fcw));
    memset(frame, 0, 64);
    memcpy((char *)frame, &mxcsr, 4);
    memcpy((char *)frame + 4, &fcw, 2);
    frame[4] = (uint64_t)(uintptr_t)entry;                /* r12 */
    frame[6] = 0;                                         /* rbp */
    frame[7] = (uint64_t)(uintptr_t)&padim_emu_ctx_start; /* return address */
    f->sp = frame;
#endif
    return f;
}

void fiber_destroy(fiber *f) {
    if (!f || !f->map) return;
#ifdef PADIM_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(f->stack_lo, f->stack_size); /* leave no poison behind */
#endif
    munmap(f->map, f->map_bytes);
    delete f;
}

/* After a switch lands in a fiber: hand ASan the fake stack saved when this fiber was
 * left, learn the bounds of the stack we came from (an OS thread's own the first time). */
static void finish_switch(void *fake_stack) {
#ifdef PADIM_EMU_ASAN
    const void *from_lo = nullptr;
    size_t from_size = 0;
    __sanitizer_finish_switch_fiber(fake_stack, &from_lo, &from_size);
    if (switching_from && !switching_from->stack_lo) {
        switching_from->stack_lo = from_lo;
        switching_from->stack_size = from_size;
    }
#else
    (void)fake_stack;
#endif
}

void fiber_started() { finish_switch(nullptr); }

void fiber_switch(fiber *from, fiber *to) {
    switching_from = from;
#ifdef PADIM_EMU_ASAN
    __sanitizer_start_switch_fiber(&from->fake_stack, to->stack_lo, to->stack_size);
#endif
#ifdef PADIM_EMU_UCONTEXT
    swapcontext(&from->uc, &to->uc);
#else
    padim_emu_ctx_switch(&from->sp, to->sp);
#endif
    finish_switch(from->fake_stack);
}

} // namespace padim_emu
