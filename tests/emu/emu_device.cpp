/*
 * emu_device.cpp - the emulator's scheduler: runs a kernel launch on the CPU, the grid's
 * blocks one after another, a block's threads as cooperative fibers (emu_fiber.h).
 *
 * Scheduling. A block's threads start in order on a pool of worker fibers. A thread
 * runs until it finishes, waits at a barrier or waits in a warp collective; only then
 * does the scheduler switch, first to a thread made ready by a completed barrier or
 * collective, else to the next unstarted thread. A worker whose thread finished takes
 * the next unstarted thread itself, without a switch: a block that never synchronizes
 * runs on one fiber, one thread after the other.
 *
 * Checks (each a kernel fault: message, sticky cudaErrorLaunchFailure, the block and the
 * launch stop): a __syncthreads() reached after some thread of the block exited, or a
 * thread exiting while others wait at one, or threads of one barrier at different call
 * sites; a warp collective (shuffle, vote, __syncwarp) whose mask leaves out the caller,
 * names lanes that do not exist (partial warp), have exited or wait at a barrier, or
 * differs in kind or width between the lanes of one mask; a shuffle reading a lane
 * outside its mask; a shuffle width that is not a power of two <= 32; a deadlock (nothing
 * can run, not all done: collectives waiting for each other's lanes); a write past the
 * launch's dynamic shared memory (canary after the launch; under ASan the bytes past it
 * are poisoned, so any access is reported at once).
 * Launch errors (returned, not sticky): block or grid dimensions out of range,
 * more dynamic shared memory than 48 KiB, an unknown stream; and a pointer argument that
 * is neither null nor in a cudaMalloc allocation (sticky cudaErrorIllegalAddress).
 */
#include "emu_fiber.h"
#include "emu_internal.h"
#include "padim_emu_device.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#ifdef PADIM_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace padim_emu {

thread_context ctx;

namespace {

enum thread_state : uint8_t { T_UNSTARTED, T_RUNNING, T_READY, T_BARRIER, T_WARP, T_DONE };

struct worker;

struct emu_thread {
    uint3 idx;
    int lin; /* linear index in the block: x + y * bx + z * bx * by; warp = lin / 32 */
    thread_state state;
    worker *carrier;  /* the worker fiber running it, while started and not done */
    const char *file; /* where it waits (barrier or collective) */
    int line;
    collective_kind kind;
    int arg;         /* collective argument: source lane, delta or lane mask */
    uint64_t value;  /* collective input */
    uint64_t result; /* collective or barrier result, set when released */
};

struct pending_collective {
    unsigned mask, arrived;
    collective_kind kind;
    int width;
    const char *file;
    int line;
};

struct warp_state {
    unsigned exists, exited, at_barrier; /* lanes */
    int npending;
    pending_collective pending[32]; /* in progress, with disjoint masks */
};

struct worker {
    fiber *f;
    emu_thread *t; /* the thread it carries, nullptr when parked */
};

/* The emulator's state is global: launches hold the device lock, and a launch runs on the
 * OS thread that made it (fibers included). */

/* The block being run. */
struct block_run {
    const launch_desc *d;
    void (*body)(void *);
    void *closure;
    uint3 block;
    int n, nwarps;
    std::vector<emu_thread> threads;
    std::vector<warp_state> warps;
    int next_unstarted, done, first_done;
    int barrier_arrived, barrier_pred, barrier_line;
    collective_kind barrier_kind;
    const char *barrier_file;
    std::vector<int> ready; /* FIFO of released threads: ready[ready_head..] */
    size_t ready_head;
    bool failed;
};

block_run B;
worker *running = nullptr; /* nullptr: the launching context */

/* The worker fibers, kept from launch to launch; freed at exit. */
struct worker_pool {
    std::vector<worker *> all, idle;
    void clear() {
        for (worker *w : all) {
            fiber_destroy(w->f);
            delete w;
        }
        all.clear();
        idle.clear();
    }
    ~worker_pool() { clear(); }
};
worker_pool pool;

const char *kind_name(collective_kind k) {
    switch (k) {
    case BARRIER_SYNC: return "__syncthreads()";
    case BARRIER_COUNT: return "__syncthreads_count()";
    case BARRIER_AND: return "__syncthreads_and()";
    case BARRIER_OR: return "__syncthreads_or()";
    case WARP_SHFL_IDX: return "__shfl_sync()";
    case WARP_SHFL_UP: return "__shfl_up_sync()";
    case WARP_SHFL_DOWN: return "__shfl_down_sync()";
    case WARP_SHFL_XOR: return "__shfl_xor_sync()";
    case WARP_VOTE_ALL: return "__all_sync()";
    case WARP_VOTE_ANY: return "__any_sync()";
    case WARP_VOTE_BALLOT: return "__ballot_sync()";
    case WARP_SYNC: return "__syncwarp()";
    }
    return "?";
}

/* "16-31" style list of the set bits of m (a static buffer: for fault messages). */
const char *lane_list(unsigned m) {
    static char buf[128];
    size_t len = 0;
    buf[0] = '\0';
    for (int l = 0; l < 32 && len < sizeof(buf); l++) {
        if (!(m >> l & 1u)) continue;
        int e = l;
        while (e + 1 < 32 && (m >> (e + 1) & 1u)) e++;
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, e > l ? "%s%d-%d" : "%s%d",
                                len ? "," : "", l, e);
        l = e;
    }
    return buf;
}

const char *short_file(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

emu_thread &current() { return *running->t; }

void make_current(emu_thread *t) {
    ctx.thread_idx = t->idx;
    running = t->carrier;
}

void switch_to(worker *to) {
    fiber *from = running ? running->f : fiber_self_main();
    if (to)
        make_current(to->t);
    else
        running = nullptr;
    fiber_switch(from, to ? to->f : fiber_self_main());
}

worker *new_worker();

/* Leave the running fiber for whatever can run next. Returns when the fiber is resumed
 * (a waiting thread released, a parked worker given a new thread); the launching
 * context returns here when the block is done or failed. */
void schedule();

/* A kernel fault in the running thread (raised on its fiber): record it, stop the block,
 * never return. */
[[noreturn]] void fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void describe_launch(char *buf, size_t cap) {
    const launch_desc &d = *B.d;
    snprintf(buf, cap, "%s<<<(%u,%u,%u), (%u,%u,%u), %zu>>> (%s:%d), block (%u,%u,%u)", d.kernel,
             d.grid.x, d.grid.y, d.grid.z, d.block.x, d.block.y, d.block.z, d.shmem,
             short_file(d.file), d.line, B.block.x, B.block.y, B.block.z);
}

void fault(const char *fmt, ...) {
    char where[256], what[1024];
    describe_launch(where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const uint3 t = current().idx;
    report(cudaErrorLaunchFailure, true, "%s, thread (%u,%u,%u): %s", where, t.x, t.y, t.z, what);
    B.failed = true;
    switch_to(nullptr);
    abort(); /* not reached: the launch drops a faulted fiber and never resumes it */
}

#ifdef PADIM_EMU_ASAN
/* A sanitizer report inside a kernel names the kernel's source line, not the emulated
 * thread: say which one, just before the process dies. */
void on_sanitizer_death() {
    if (!B.d) return; /* not inside a launch */
    char where[256];
    describe_launch(where, sizeof(where));
    if (running && running->t) {
        const uint3 t = current().idx;
        fprintf(stderr, "padim-emu: the report above comes from %s, thread (%u,%u,%u)\n", where,
                t.x, t.y, t.z);
    } else {
        fprintf(stderr, "padim-emu: the report above comes from %s, between blocks\n", where);
    }
}
#endif

void release(emu_thread *t, uint64_t result) {
    t->result = result;
    t->state = T_READY;
    B.ready.push_back(t->lin);
}

/* Nothing can run and not all threads are done: name every barrier and collective in
 * progress, who waits in it and for whom. */
void deadlock() {
    char buf[2048];
    size_t len = 0;
    auto add = [&](const char *fmt, auto... args) {
        if (len < sizeof(buf)) len += (size_t)snprintf(buf + len, sizeof(buf) - len, fmt, args...);
    };
    add("deadlock: no thread can run, %d of %d done", B.done, B.n);
    if (B.barrier_arrived)
        add("; %d thread(s) wait at %s at %s:%d", B.barrier_arrived, kind_name(B.barrier_kind),
            short_file(B.barrier_file), B.barrier_line);
    for (int wi = 0; wi < B.nwarps; wi++)
        for (int i = 0; i < B.warps[(size_t)wi].npending; i++) {
            const pending_collective &p = B.warps[(size_t)wi].pending[i];
            add("; warp %d lanes %s wait in %s (mask 0x%08x) at %s:%d", wi, lane_list(p.arrived),
                kind_name(p.kind), p.mask, short_file(p.file), p.line);
            add(" for lanes %s", lane_list(p.mask & ~p.arrived));
        }
    char where[256];
    describe_launch(where, sizeof(where));
    report(cudaErrorLaunchFailure, true, "%s: %s", where, buf);
    B.failed = true;
}

void schedule() {
    worker *to = nullptr; /* nullptr: back to the launching context */
    if (!B.failed) {
        if (B.ready_head < B.ready.size()) {
            emu_thread *t = &B.threads[(size_t)B.ready[B.ready_head++]];
            if (B.ready_head == B.ready.size()) B.ready.clear(), B.ready_head = 0;
            t->state = T_RUNNING;
            to = t->carrier;
        } else if (B.next_unstarted < B.n) {
            emu_thread *t = &B.threads[(size_t)B.next_unstarted++];
            if (pool.idle.empty()) {
                to = new_worker();
            } else {
                to = pool.idle.back();
                pool.idle.pop_back();
            }
            to->t = t;
            t->carrier = to;
            t->state = T_RUNNING;
        } else if (B.done < B.n) {
            deadlock();
        }
    }
    if (to == running) { /* a parked worker handed the next thread: no switch */
        if (to) make_current(to->t);
        return;
    }
    switch_to(to);
}

void thread_exit(emu_thread &t) {
    warp_state &w = B.warps[(size_t)(t.lin / 32)];
    const unsigned bit = 1u << (t.lin % 32);
    if (B.barrier_arrived > 0)
        fault("exits while %d thread(s) of the block wait at %s at %s:%d (every thread must "
              "reach it)",
              B.barrier_arrived, kind_name(B.barrier_kind), short_file(B.barrier_file),
              B.barrier_line);
    for (int i = 0; i < w.npending; i++) {
        const pending_collective &p = w.pending[i];
        if (p.mask & bit)
            fault("exits while lanes of its warp wait for it in %s (mask 0x%08x) at %s:%d",
                  kind_name(p.kind), p.mask, short_file(p.file), p.line);
    }
    t.state = T_DONE;
    t.carrier = nullptr;
    w.exited |= bit;
    B.done++;
    if (B.first_done < 0) B.first_done = t.lin;
}

void worker_main() {
    fiber_started();
    worker *self = running;
    for (;;) {
        emu_thread &t = *self->t;
        B.body(B.closure);
        thread_exit(t);
        self->t = nullptr;
        if (!B.failed && B.ready_head == B.ready.size() && B.next_unstarted < B.n) {
            emu_thread *next = &B.threads[(size_t)B.next_unstarted++];
            self->t = next;
            next->carrier = self;
            next->state = T_RUNNING;
            make_current(next);
            continue;
        }
        pool.idle.push_back(self);
        schedule();
    }
}

worker *new_worker() {
    worker *w = new worker{fiber_create(worker_main), nullptr};
    pool.all.push_back(w);
    return w;
}

void wait_here(emu_thread &t, collective_kind kind, const char *file, int line) {
    t.kind = kind;
    t.file = file;
    t.line = line;
    schedule();
}

void complete_collective(warp_state &w, int warp, int pi) {
    const pending_collective p = w.pending[pi];
    w.pending[pi] = w.pending[--w.npending];
    emu_thread *lane_t[32] = {nullptr};
    for (int l = 0; l < 32; l++)
        if (p.mask >> l & 1u) lane_t[l] = &B.threads[(size_t)(warp * 32 + l)];
    uint64_t res[32] = {0};
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++)
        if (lane_t[l] && lane_t[l]->value) ballot |= 1u << l;
    for (int l = 0; l < 32; l++) {
        if (!lane_t[l]) continue;
        const int arg = lane_t[l]->arg, base = l & ~(p.width - 1);
        int src = l;
        switch (p.kind) {
        case WARP_SHFL_IDX: src = base + (arg & (p.width - 1)); break;
        case WARP_SHFL_UP: src = (l - base) - arg < 0 ? l : l - arg; break;
        case WARP_SHFL_DOWN: src = (l - base) + arg >= p.width ? l : l + arg; break;
        case WARP_SHFL_XOR:
            src = l ^ arg;
            if (src >= base + p.width) src = l;
            break;
        default: break;
        }
        switch (p.kind) {
        case WARP_VOTE_ALL: res[l] = ballot == p.mask; break;
        case WARP_VOTE_ANY: res[l] = ballot != 0; break;
        case WARP_VOTE_BALLOT: res[l] = ballot; break;
        case WARP_SYNC: res[l] = 0; break;
        default:
            if (src < 0 || src > 31 || !(p.mask >> src & 1u))
                fault("completes %s (mask 0x%08x) at %s:%d in which lane %d reads lane %d, "
                      "outside the mask",
                      kind_name(p.kind), p.mask, short_file(p.file), p.line, l, src);
            res[l] = lane_t[src]->value;
        }
    }
    const emu_thread *self = running->t;
    for (int l = 0; l < 32; l++) {
        if (!lane_t[l]) continue;
        if (lane_t[l] == self)
            lane_t[l]->result = res[l];
        else
            release(lane_t[l], res[l]);
    }
}

} // namespace

int block_barrier(collective_kind kind, int pred, const char *file, int line) {
    emu_thread &t = current();
    if (B.first_done >= 0) {
        const uint3 e = B.threads[(size_t)B.first_done].idx;
        fault("reaches %s at %s:%d after thread (%u,%u,%u) of the block exited without it "
              "(a barrier must be reached by every thread of the block)",
              kind_name(kind), short_file(file), line, e.x, e.y, e.z);
    }
    const warp_state &w = B.warps[(size_t)(t.lin / 32)];
    for (int i = 0; i < w.npending; i++) {
        const pending_collective &p = w.pending[i];
        if (p.mask >> (t.lin % 32) & 1u)
            fault("reaches %s at %s:%d while lanes of its warp wait for it in %s (mask 0x%08x) "
                  "at %s:%d",
                  kind_name(kind), short_file(file), line, kind_name(p.kind), p.mask,
                  short_file(p.file), p.line);
    }
    if (B.barrier_arrived == 0) {
        B.barrier_kind = kind;
        B.barrier_file = file;
        B.barrier_line = line;
        B.barrier_pred = 0;
    } else if (B.barrier_kind != kind || B.barrier_line != line ||
               (B.barrier_file != file && strcmp(B.barrier_file, file) != 0)) {
        fault("divergent barrier: reaches %s at %s:%d while %d thread(s) wait at %s at %s:%d",
              kind_name(kind), short_file(file), line, B.barrier_arrived, kind_name(B.barrier_kind),
              short_file(B.barrier_file), B.barrier_line);
    }
    B.barrier_arrived++;
    B.barrier_pred += pred != 0;
    if (B.barrier_arrived == B.n) {
        const int count = B.barrier_pred;
        B.barrier_arrived = 0;
        for (int wi = 0; wi < B.nwarps; wi++) {
            warp_state &ws = B.warps[(size_t)wi];
            for (int l = 0; l < 32; l++)
                if (ws.at_barrier >> l & 1u)
                    release(&B.threads[(size_t)(wi * 32 + l)], (uint64_t)count);
            ws.at_barrier = 0;
        }
        return count;
    }
    B.warps[(size_t)(t.lin / 32)].at_barrier |= 1u << (t.lin % 32);
    t.state = T_BARRIER;
    wait_here(t, kind, file, line);
    return (int)t.result;
}

uint64_t warp_collective(collective_kind kind, unsigned mask, uint64_t value, int arg, int width,
                         const char *file, int line) {
    emu_thread &t = current();
    const int warp = t.lin / 32, lane = t.lin % 32;
    const unsigned bit = 1u << lane;
    warp_state &w = B.warps[(size_t)warp];
    if (!(mask & bit))
        fault("lane %d calls %s at %s:%d with mask 0x%08x, which leaves the caller out", lane,
              kind_name(kind), short_file(file), line, mask);
    if (mask & ~w.exists)
        fault("%s at %s:%d with mask 0x%08x names lanes %s of warp %d, which do not exist "
              "(%d threads per block)",
              kind_name(kind), short_file(file), line, mask, lane_list(mask & ~w.exists), warp,
              B.n);
    if (mask & w.exited)
        fault("%s at %s:%d with mask 0x%08x waits for lanes %s, which have exited", kind_name(kind),
              short_file(file), line, mask, lane_list(mask & w.exited));
    if (mask & w.at_barrier)
        fault("%s at %s:%d with mask 0x%08x waits for lanes %s, which wait at %s at %s:%d",
              kind_name(kind), short_file(file), line, mask, lane_list(mask & w.at_barrier),
              kind_name(B.barrier_kind), short_file(B.barrier_file), B.barrier_line);
    if (kind <= WARP_SHFL_XOR && (width < 1 || width > 32 || (width & (width - 1)) != 0))
        fault("%s at %s:%d with width %d (must be a power of two <= 32)", kind_name(kind),
              short_file(file), line, width);
    /* Join the collective in progress with the same mask. One whose mask only overlaps
     * is no fault by itself (lanes 0-15 may wait in a full-warp shuffle while 16-31 do
     * a half-warp one first); a real cycle ends as a deadlock, found when nothing runs. */
    int pi = -1;
    for (int i = 0; i < w.npending && pi < 0; i++) {
        const pending_collective &p = w.pending[i];
        if (p.mask != mask) continue;
        if (p.kind != kind || p.width != width)
            fault("divergent warp collective: calls %s (width %d) at %s:%d while lanes of the "
                  "same mask 0x%08x wait in %s (width %d) at %s:%d",
                  kind_name(kind), width, short_file(file), line, mask, kind_name(p.kind), p.width,
                  short_file(p.file), p.line);
        pi = i;
    }
    if (pi < 0) {
        pi = w.npending++; /* <= 32: each holds an arrived lane, a lane is in one at most */
        w.pending[pi] = pending_collective{mask, 0, kind, width, file, line};
    }
    t.value = value;
    t.arg = arg;
    w.pending[pi].arrived |= bit;
    if (w.pending[pi].arrived == mask) {
        complete_collective(w, warp, pi);
        return t.result;
    }
    t.state = T_WARP;
    wait_here(t, kind, file, line);
    return t.result;
}

unsigned active_mask() {
    const emu_thread &t = current();
    const warp_state &w = B.warps[(size_t)(t.lin / 32)];
    return w.exists & ~w.exited;
}

namespace {

/* Dynamic shared memory: [0, shmem) is the launch's, filled with 0xff before each block
 * (a read before any write gives NaN, not the last block's data); the rest is a canary,
 * ASan-poisoned (any access reported at once, naming the kernel line), and checked after
 * the launch (the only check without ASan). */
const unsigned char CANARY = 0xcd;

void shared_prepare(size_t shmem) {
    int n = 0;
    const dynamic_shared_array *a = dynamic_shared_arrays(&n);
    for (int i = 0; i < n; i++) {
        unsigned char *base = a[i].address();
        memset(base + shmem, CANARY, a[i].bytes - shmem);
        poison(base + shmem, a[i].bytes - shmem, true);
    }
}

void shared_fill(size_t shmem) {
    int n = 0;
    const dynamic_shared_array *a = dynamic_shared_arrays(&n);
    for (int i = 0; i < n; i++) memset(a[i].address(), 0xff, shmem);
}

/* Reads the poisoned canary: not instrumented. Returns the first changed byte or -1. */
__attribute__((no_sanitize_address)) long canary_broken(const unsigned char *p, size_t n) {
    uint64_t word;
    memset(&word, CANARY, sizeof(word));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v != word) break;
    }
    for (; i < n; i++)
        if (p[i] != CANARY) return (long)i;
    return -1;
}

bool shared_check(size_t shmem) {
    int n = 0;
    const dynamic_shared_array *a = dynamic_shared_arrays(&n);
    for (int i = 0; i < n; i++) {
        const long at = canary_broken(a[i].address() + shmem, a[i].bytes - shmem);
        if (at >= 0) {
            const launch_desc &d = *B.d;
            report(cudaErrorLaunchFailure, true,
                   "%s<<<(%u,%u,%u), (%u,%u,%u), %zu>>> (%s:%d): a block wrote dynamic shared "
                   "memory %s at byte %zu, past the launch's %zu bytes",
                   d.kernel, d.grid.x, d.grid.y, d.grid.z, d.block.x, d.block.y, d.block.z, d.shmem,
                   short_file(d.file), d.line, a[i].name, shmem + (size_t)at, shmem);
            return false;
        }
    }
    return true;
}

void shared_release() {
    int n = 0;
    const dynamic_shared_array *a = dynamic_shared_arrays(&n);
    for (int i = 0; i < n; i++) poison(a[i].address(), a[i].bytes, false);
}

bool run_block(uint3 block) {
    B.block = block;
    ctx.block_idx = block;
    for (int i = 0; i < B.n; i++) {
        emu_thread &t = B.threads[(size_t)i];
        t.state = T_UNSTARTED;
        t.carrier = nullptr;
    }
    for (warp_state &w : B.warps) {
        w.exited = w.at_barrier = 0;
        w.npending = 0;
    }
    B.next_unstarted = B.done = 0;
    B.first_done = -1;
    B.barrier_arrived = 0;
    B.ready.clear();
    B.ready_head = 0;
    shared_fill(B.d->shmem);
    schedule(); /* back here when the block is done or failed */
    return !B.failed;
}

bool check_geometry(const launch_desc &d) {
    const dim3 g = d.grid, b = d.block;
    const unsigned long long nb = (unsigned long long)b.x * b.y * b.z;
    const char *why = nullptr;
    if (!b.x || !b.y || !b.z || !g.x || !g.y || !g.z)
        why = "a zero dimension";
    else if (b.x > 1024 || b.y > 1024 || b.z > 64)
        why = "block dimensions above (1024, 1024, 64)";
    else if (nb > 1024)
        why = "more than 1024 threads per block";
    else if (g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535)
        why = "grid dimensions above (2^31-1, 65535, 65535)";
    if (why) {
        report(cudaErrorInvalidConfiguration, false,
               "%s<<<(%u,%u,%u), (%u,%u,%u)>>> (%s:%d): invalid configuration: %s", d.kernel, g.x,
               g.y, g.z, b.x, b.y, b.z, short_file(d.file), d.line, why);
        return false;
    }
    if (d.shmem > PADIM_EMU_DYNAMIC_SHARED_BYTES) {
        report(cudaErrorInvalidValue, false,
               "%s (%s:%d): %zu bytes of dynamic shared memory, above the %u-byte limit", d.kernel,
               short_file(d.file), d.line, d.shmem, PADIM_EMU_DYNAMIC_SHARED_BYTES);
        return false;
    }
    if (!valid_stream(d.stream)) {
        report(cudaErrorInvalidResourceHandle, false, "%s (%s:%d): unknown stream %p", d.kernel,
               short_file(d.file), d.line, (void *)d.stream);
        return false;
    }
    return true;
}

} // namespace

void launch(const launch_desc &d, const pointer_arg *ptrs, int nptrs, void (*body)(void *),
            void *closure) {
    std::lock_guard<std::recursive_mutex> lock(device_lock());
#ifdef PADIM_EMU_ASAN
    static bool death_callback = false;
    if (!death_callback) __sanitizer_set_death_callback(on_sanitizer_death), death_callback = true;
#endif
    if (sticky_error() != cudaSuccess || !check_geometry(d)) return;
    for (int i = 0; i < nptrs; i++) {
        if (ptrs[i].ptr && !in_device_memory(ptrs[i].ptr, 0)) {
            report(cudaErrorIllegalAddress, true,
                   "%s (%s:%d): argument %d is %p, neither null nor in a cudaMalloc allocation",
                   d.kernel, short_file(d.file), d.line, ptrs[i].index, ptrs[i].ptr);
            return;
        }
    }
    B.d = &d;
    B.body = body;
    B.closure = closure;
    B.n = (int)(d.block.x * d.block.y * d.block.z);
    B.nwarps = (B.n + 31) / 32;
    B.threads.assign((size_t)B.n, emu_thread{});
    for (int i = 0; i < B.n; i++) {
        emu_thread &t = B.threads[(size_t)i];
        t.lin = i;
        t.idx = uint3{(unsigned)i % d.block.x, (unsigned)i / d.block.x % d.block.y,
                      (unsigned)i / (d.block.x * d.block.y)};
    }
    B.warps.assign((size_t)B.nwarps, warp_state{});
    for (int w = 0; w < B.nwarps; w++) {
        const int lanes = B.n - 32 * w < 32 ? B.n - 32 * w : 32;
        B.warps[(size_t)w].exists = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
    }
    B.ready.reserve((size_t)B.n);
    B.failed = false;
    ctx.block_dim = d.block;
    ctx.grid_dim = d.grid;
    fiber_new_launch();
    shared_prepare(d.shmem);
    bool ok = true;
    for (unsigned z = 0; ok && z < d.grid.z; z++)
        for (unsigned y = 0; ok && y < d.grid.y; y++)
            for (unsigned x = 0; ok && x < d.grid.x; x++) ok = run_block(uint3{x, y, z});
    if (ok) shared_check(d.shmem);
    shared_release();
    B.d = nullptr;
    if (B.failed) pool.clear(); /* some workers sit inside kernel frames: drop them all */
}

} // namespace padim_emu
