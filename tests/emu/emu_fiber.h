/*
 * emu_fiber.h - cooperative fibers for the CPU emulator of tests/emu: the scheduler
 * (emu_device.cpp) runs every emulated GPU thread of a block on a fiber and switches
 * between them only at barriers and warp collectives. A fiber is a stack and a saved
 * context; switching tells AddressSanitizer which stack is live (fiber annotations).
 */
#ifndef PADIM_EMU_FIBER_H
#define PADIM_EMU_FIBER_H

namespace padim_emu {

struct fiber;

/* The launching OS thread's own context seen as a fiber (the scheduler's side). */
fiber *fiber_self_main();

/* A launch begins (possibly on another OS thread than the last): forget the launching
 * stack's bounds, learned again on the first switch away from it. */
void fiber_new_launch();

/* A fiber with a fresh stack; the first switch to it calls entry(), which must call
 * fiber_started() first and never return. Aborts when no memory is left. */
fiber *fiber_create(void (*entry)());

/* Unmap a fiber's stack. Whatever frames it held are dropped (no destructors run): used
 * for fibers parked for good, or left inside a kernel after a fault. */
void fiber_destroy(fiber *f);

/* Save the running fiber `from`, resume `to`. Returns when another fiber switches back. */
void fiber_switch(fiber *from, fiber *to);

/* First call of a fiber's entry: completes the switch into the new stack. */
void fiber_started();

} // namespace padim_emu
#endif
