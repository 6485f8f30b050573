/*
 * backbone_dnnl.c - the CPU backbone on oneDNN (see backbone_dnnl.h).
 *
 * Why: bb_forward_cpu (im2col + OpenBLAS SGEMM per chunk, then a finishing pass) runs the
 * ResNet-18 backbone at about half of the machine's SGEMM peak: the 3x3 convolutions of
 * layer2/layer3 have few output columns per image, every conv writes its output twice
 * (GEMM, then bias/residual/ReLU), and conv1's K = 147 packs poorly. oneDNN's direct
 * convolutions work on channel-blocked layouts (nChw8c on AVX2, nChw16c on AVX-512) with
 * the bias, the residual sum and the ReLU fused into the kernel, and no im2col at all.
 * Numbers (per layer, against the measured SGEMM peak) are in benchmarks/RESULTS.md.
 *
 * Exactness: float32 products and float32 accumulation, as the GEMM path and PyTorch;
 * only the summation order differs (tests/test_backbone.c checks both paths against
 * torchvision's own modules with the same tolerance). oneDNN's own Winograd is never
 * asked for (dnnl_convolution_direct); the 3x3 stride-1 convs run by ours
 * (winograd_blocked.c, F(4x4, 3x3) by default), whose extra rounding (the transforms'
 * coefficients up to 8 and 1/24) is measured by the same test and end to end on bottle.
 *
 * The net, as bb_forward_cpu walks it: conv1 (nchw input, blocked output) + ReLU, max
 * pool 3x3/2 pad 1 (oneDNN's max pooling skips the padding, as torch's -inf padding
 * does), then per bottleneck/basic block: the downsample conv writes the block output
 * (bias, no ReLU) or the block input is copied there (identity shortcut), and the last
 * conv accumulates onto it (post-ops: sum, then ReLU). The last block of each layer is
 * reordered to the caller's NCHW l1 / l2 / l3.
 *
 * Threads: oneDNN's OpenMP runtime uses omp_get_max_threads() of the calling thread; it
 * is set to the net's thread count while primitives are made and run, then restored.
 */
#include "backbone_dnnl.h"
#include "backbone_cpu.h"
#include "blas_threads.h"
#include "common.h"
#include "winograd_blocked.h"

#include <stdlib.h>

#include <omp.h>
#include <stdint.h>
#include <string.h>

#ifdef PADIM_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#define DN_MAX_STEPS 256
#define DN_MAX_MEMS 512

typedef struct dn_wino {
    const float *U, *bias;
    const float *src;
    float *dst;
    int C, H, K, sum, relu;
} dn_wino;

typedef struct dn_step {
    dnnl_primitive_t prim; /* NULL: a Winograd conv (wino.U set) or a copy of `bytes` */
    dn_wino wino;
    int nargs;
    dnnl_exec_arg_t args[4];
    const void *from;
    void *to;
    size_t bytes;
    int slot; /* profiling: the conv's index, or BB_MAX_CONVS */
} dn_step;

typedef struct dn_plan {
    int n;
    dn_step steps[DN_MAX_STEPS];
    int nsteps;
    dnnl_memory_t mems[DN_MAX_MEMS]; /* every memory object made for the plan */
    int nmems;
    dnnl_primitive_t prims[DN_MAX_STEPS]; /* every primitive made (steps and weight reorders) */
    int nprims;
    void *act[4];          /* activation buffers (blocked) */
    void *xin;             /* bf16 copy of the input (bf16 mode) */
    float *wscratch;       /* scratch of the Winograd steps: threads x wscratch_floats */
    int64_t wscratch_floats;
    dnnl_memory_t x_user;  /* (n, 3, S, S) f32 nchw: the caller's x */
    dnnl_memory_t out_user[3];
} dn_plan;

struct bb_dnnl_net {
    const bb_weights *w;
    int S, threads, bf16;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_format_tag_t blocked; /* nChw8c or nChw16c */
    int bs;                    /* its block: 8 or 16 */
    int wino_min;              /* Winograd for 3x3 stride-1 convs with >= this many inputs; 0: never */
    int wino_tile;             /* its outputs per tile side: 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3)) */
    int wino_chunk;            /* its tiles per chunk (WINOB_CHUNK) */
    float *wU[BB_MAX_CONVS];   /* their filters (winograd_blocked.h), shared by the plans */
    dn_plan *plans[2];
};

static padim_status dn_fail(dnnl_status_t s, const char *what) {
    return padim_fail(s == dnnl_out_of_memory ? PADIM_ERR_NOMEM : PADIM_ERR_ARG,
                      "oneDNN backbone: %s: %s", what, dnnl_status2str(s));
}
#define DN(call, what)                                 \
    do {                                               \
        dnnl_status_t s_ = (call);                     \
        if (s_ != dnnl_success) return dn_fail(s_, (what)); \
    } while (0)

int bb_dnnl_available(void) { return 1; }

const char *bb_dnnl_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

int bb_dnnl_has_bf16(void) {
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

static int out_side(int h, const bb_conv_spec *c) { return (h + 2 * c->pad - c->k) / c->stride + 1; }

static void md4(dnnl_memory_desc_t *md, int n, int c, int h, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
    const dnnl_dims_t d = {n, c, h, h};
    dnnl_memory_desc_init_by_tag(md, 4, d, dt, tag);
}

static padim_status plan_mem(dn_plan *p, dnnl_engine_t e, const dnnl_memory_desc_t *md, void *ptr,
                             dnnl_memory_t *out) {
    PADIM_ASSERT(p->nmems < DN_MAX_MEMS);
    DN(dnnl_memory_create(out, md, e, ptr), "memory object");
    p->mems[p->nmems++] = *out;
    return PADIM_OK;
}

static dn_step *plan_step(dn_plan *p, dnnl_primitive_t prim) {
    PADIM_ASSERT(p->nsteps < DN_MAX_STEPS && p->nprims < DN_MAX_STEPS);
    dn_step *s = &p->steps[p->nsteps++];
    memset(s, 0, sizeof(*s));
    s->prim = prim;
    s->slot = BB_MAX_CONVS;
    if (prim) p->prims[p->nprims++] = prim;
    return s;
}

static void step_arg(dn_step *s, int arg, dnnl_memory_t m) {
    s->args[s->nargs].arg = arg;
    s->args[s->nargs].memory = m;
    s->nargs++;
}

/* A reorder primitive from `src` to `dst` (both made), as a step or run once now. */
static padim_status plan_reorder(bb_dnnl_net *net, dn_plan *p, dnnl_memory_t src, dnnl_memory_t dst,
                                 int run_now) {
    const dnnl_memory_desc_t *smd, *dmd;
    DN(dnnl_memory_get_memory_desc(src, &smd), "reorder source");
    DN(dnnl_memory_get_memory_desc(dst, &dmd), "reorder destination");
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, smd, net->engine, dmd, net->engine, NULL), "reorder");
    dnnl_primitive_t r;
    dnnl_status_t s = dnnl_primitive_create(&r, pd);
    dnnl_primitive_desc_destroy(pd);
    DN(s, "reorder primitive");
    if (run_now) {
        const dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        s = dnnl_primitive_execute(r, net->stream, 2, a);
        if (s == dnnl_success) s = dnnl_stream_wait(net->stream);
        dnnl_primitive_destroy(r);
        DN(s, "weights reorder");
        return PADIM_OK;
    }
    dn_step *st = plan_step(p, r);
    step_arg(st, DNNL_ARG_FROM, src);
    step_arg(st, DNNL_ARG_TO, dst);
    return PADIM_OK;
}

/* One conv of the spec: src (n, cin, h, h) in buffer `src` (or the memory object
 * src_mem when given) -> dst buffer; sum: dst holds the shortcut; relu after. */
static padim_status plan_conv(bb_dnnl_net *net, dn_plan *p, int ci, int h, void *src,
                              dnnl_memory_t src_mem, void *dst, int sum, int relu) {
    const bb_conv_spec *cs = &net->w->spec.convs[ci];
    if (net->wino_min > 0 && !net->bf16 && !src_mem && cs->k == 3 && cs->stride == 1 && cs->pad == 1 &&
        cs->cin >= net->wino_min && cs->cin % net->bs == 0 && cs->cout % net->bs == 0) {
        if (!net->wU[ci]) PADIM_TRY(winob_filters(net->w->w[ci], cs->cout, cs->cin, net->wino_tile, &net->wU[ci]));
        dn_step *st = plan_step(p, NULL);
        st->slot = ci;
        st->wino = (dn_wino){net->wU[ci], net->w->b[ci], src, dst, cs->cin, h, cs->cout, sum, relu};
        const int64_t f = winob_scratch_floats(cs->cin, cs->cout, net->wino_tile, net->wino_chunk);
        if (f > p->wscratch_floats) p->wscratch_floats = f;
        return PADIM_OK;
    }
    const dnnl_data_type_t dt = net->bf16 ? dnnl_bf16 : dnnl_f32;
    const int ho = out_side(h, cs);
    dnnl_memory_desc_t smd, wmd, bmd, dmd;
    if (src_mem) {
        const dnnl_memory_desc_t *m;
        DN(dnnl_memory_get_memory_desc(src_mem, &m), "conv source");
        smd = *m;
    } else {
        md4(&smd, p->n, cs->cin, h, dt, net->blocked);
    }
    md4(&dmd, p->n, cs->cout, ho, dt, net->blocked);
    const dnnl_dims_t wd = {cs->cout, cs->cin, cs->k, cs->k};
    DN(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dt, dnnl_format_tag_any), "weights descriptor");
    const dnnl_dims_t bd = {cs->cout};
    DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a), "bias descriptor");
    const dnnl_dims_t strides = {cs->stride, cs->stride}, pad = {cs->pad, cs->pad};
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &smd,
                                          &wmd, &bmd, &dmd, strides, pad, pad),
       cs->name);
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    DN(dnnl_primitive_attr_create(&attr), "attributes");
    DN(dnnl_post_ops_create(&po), "post-ops");
    dnnl_status_t s = dnnl_success;
    if (sum) s = dnnl_post_ops_append_sum(po, 1.0f);
    if (s == dnnl_success && relu) s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &cd, attr, net->engine, NULL);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        return padim_fail(s == dnnl_out_of_memory ? PADIM_ERR_NOMEM : PADIM_ERR_ARG,
                          "oneDNN backbone: conv %s (%d -> %d, %dx%d/%d) at %dx%d, batch %d, %s on %s: %s",
                          cs->name, cs->cin, cs->cout, cs->k, cs->k, cs->stride, h, h, p->n,
                          net->bf16 ? "bf16" : "f32", bb_dnnl_isa(), dnnl_status2str(s));
    }
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_t prim;
    s = dnnl_primitive_create(&prim, pd);
    dnnl_memory_desc_t wchosen = *wq;
    dnnl_primitive_desc_destroy(pd);
    DN(s, cs->name);

    dnnl_memory_t wu, wm, bm, sm = src_mem, dm;
    dnnl_memory_desc_t wumd;
    DN(dnnl_memory_desc_init_by_tag(&wumd, 4, wd, dnnl_f32, dnnl_oihw), "weights descriptor");
    dn_step *st = plan_step(p, prim);
    st->slot = ci;
    PADIM_TRY(plan_mem(p, net->engine, &wumd, net->w->w[ci], &wu));
    PADIM_TRY(plan_mem(p, net->engine, &wchosen, DNNL_MEMORY_ALLOCATE, &wm));
    PADIM_TRY(plan_reorder(net, p, wu, wm, 1));
    PADIM_TRY(plan_mem(p, net->engine, &bmd, net->w->b[ci], &bm));
    if (!sm) PADIM_TRY(plan_mem(p, net->engine, &smd, src, &sm));
    PADIM_TRY(plan_mem(p, net->engine, &dmd, dst, &dm));
    step_arg(st, DNNL_ARG_SRC, sm);
    step_arg(st, DNNL_ARG_WEIGHTS, wm);
    step_arg(st, DNNL_ARG_BIAS, bm);
    step_arg(st, DNNL_ARG_DST, dm);
    return PADIM_OK;
}

static void plan_free(dn_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->nprims; i++) dnnl_primitive_destroy(p->prims[i]);
    for (int i = 0; i < p->nmems; i++) dnnl_memory_destroy(p->mems[i]);
    for (int i = 0; i < 4; i++) free(p->act[i]);
    free(p->wscratch);
    free(p->xin);
    free(p);
}

/* Bytes of the largest blocked activation of n images, walking the net. */
static size_t act_bytes(const bb_dnnl_net *net, int n) {
    const bb_spec *sp = &net->w->spec;
    const size_t el = net->bf16 ? 2 : 4;
    size_t best = 0;
#define TRACK(c, hh)                                                        \
    do {                                                                    \
        const size_t b_ = (size_t)n * (size_t)(c) * (size_t)(hh) * (size_t)(hh) * el; \
        if (b_ > best) best = b_;                                           \
    } while (0)
    int h = out_side(net->S, &sp->convs[0]);
    TRACK(sp->convs[0].cout, h);
    h = (h - 1) / 2 + 1;
    for (int L = 0; L < 3; L++)
        for (int bi = 0; bi < sp->n_blocks[L]; bi++) {
            const bb_block *bk = &sp->blocks[L][bi];
            const int ids[3] = {bk->a, bk->b, bk->c};
            int hc = h;
            for (int j = 0; j < 3; j++) {
                if (ids[j] < 0) continue;
                hc = out_side(hc, &sp->convs[ids[j]]);
                TRACK(sp->convs[ids[j]].cout, hc);
            }
            h = hc;
        }
#undef TRACK
    return best;
}

static padim_status plan_build(bb_dnnl_net *net, dn_plan *p) {
    const bb_spec *sp = &net->w->spec;
    const dnnl_data_type_t dt = net->bf16 ? dnnl_bf16 : dnnl_f32;
    const int n = p->n, S = net->S;
    const size_t ab = act_bytes(net, n);
    for (int i = 0; i < 4; i++) PADIM_TRY(padim_alloc_aligned_touched(&p->act[i], ab, "oneDNN backbone activations"));

    /* input: the caller's f32 nchw; bf16 mode converts it into xin first */
    dnnl_memory_desc_t xmd;
    md4(&xmd, n, 3, S, dnnl_f32, dnnl_nchw);
    PADIM_TRY(plan_mem(p, net->engine, &xmd, DNNL_MEMORY_NONE, &p->x_user));
    dnnl_memory_t conv1_src = p->x_user;
    if (net->bf16) {
        PADIM_TRY(padim_alloc_aligned(&p->xin, (size_t)n * 3 * S * S * 2, "oneDNN backbone bf16 input"));
        dnnl_memory_desc_t bmd;
        md4(&bmd, n, 3, S, dnnl_bf16, dnnl_nchw);
        PADIM_TRY(plan_mem(p, net->engine, &bmd, p->xin, &conv1_src));
        PADIM_TRY(plan_reorder(net, p, p->x_user, conv1_src, 0));
    }
    PADIM_TRY(plan_conv(net, p, 0, S, NULL, conv1_src, p->act[0], 0, 1));
    int h = out_side(S, &sp->convs[0]);
    {   /* max pool 3x3 / 2, pad 1 */
        const int ho = (h + 2 - 3) / 2 + 1;
        dnnl_memory_desc_t smd, dmd;
        md4(&smd, n, 64, h, dt, net->blocked);
        md4(&dmd, n, 64, ho, dt, net->blocked);
        const dnnl_dims_t st = {2, 2}, k = {3, 3}, dil = {0, 0}, pad = {1, 1};
        dnnl_pooling_v2_desc_t pdsc;
        DN(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, dnnl_pooling_max, &smd, &dmd,
                                             st, k, dil, pad, pad),
           "max pool");
        dnnl_primitive_desc_t pd;
        DN(dnnl_primitive_desc_create(&pd, &pdsc, NULL, net->engine, NULL), "max pool");
        dnnl_primitive_t prim;
        dnnl_status_t s = dnnl_primitive_create(&prim, pd);
        dnnl_primitive_desc_destroy(pd);
        DN(s, "max pool primitive");
        dn_step *stp = plan_step(p, prim);
        dnnl_memory_t sm, dm;
        PADIM_TRY(plan_mem(p, net->engine, &smd, p->act[0], &sm));
        PADIM_TRY(plan_mem(p, net->engine, &dmd, p->act[1], &dm));
        step_arg(stp, DNNL_ARG_SRC, sm);
        step_arg(stp, DNNL_ARG_DST, dm);
        h = ho;
    }

    void *cur = p->act[1];
    for (int L = 0; L < 3; L++) {
        for (int bi = 0; bi < sp->n_blocks[L]; bi++) {
            const bb_block *bk = &sp->blocks[L][bi];
            void *fb[3];
            int nf = 0;
            for (int i = 0; i < 4 && nf < 3; i++)
                if (p->act[i] != cur) fb[nf++] = p->act[i];
            void *t1 = fb[0], *t2 = fb[1], *o = fb[2];
            const int last = bk->c >= 0 ? bk->c : bk->b;
            /* shortcut into o: the downsample conv, or a copy of the block input */
            if (bk->down >= 0) {
                PADIM_TRY(plan_conv(net, p, bk->down, h, cur, NULL, o, 0, 0));
            } else {
                dn_step *cp = plan_step(p, NULL);
                cp->from = cur;
                cp->to = o;
                cp->bytes = (size_t)n * (size_t)sp->convs[last].cout * (size_t)h * (size_t)h *
                            (net->bf16 ? 2 : 4);
            }
            PADIM_TRY(plan_conv(net, p, bk->a, h, cur, NULL, t1, 0, 1));
            int hl = out_side(h, &sp->convs[bk->a]);
            void *in_last = t1;
            if (bk->c >= 0) {
                PADIM_TRY(plan_conv(net, p, bk->b, hl, t1, NULL, t2, 0, 1));
                hl = out_side(hl, &sp->convs[bk->b]);
                in_last = t2;
            }
            PADIM_TRY(plan_conv(net, p, last, hl, in_last, NULL, o, 1, 1));
            h = out_side(hl, &sp->convs[last]);
            cur = o;
        }
        /* the layer's output to the caller's NCHW f32 */
        dnnl_memory_desc_t bmd, umd;
        md4(&bmd, n, sp->channels[L], h, dt, net->blocked);
        md4(&umd, n, sp->channels[L], h, dnnl_f32, dnnl_nchw);
        dnnl_memory_t bm;
        PADIM_TRY(plan_mem(p, net->engine, &bmd, cur, &bm));
        PADIM_TRY(plan_mem(p, net->engine, &umd, DNNL_MEMORY_NONE, &p->out_user[L]));
        PADIM_TRY(plan_reorder(net, p, bm, p->out_user[L], 0));
    }
    if (p->wscratch_floats > 0)
        PADIM_TRY(padim_alloc_aligned_touched((void **)&p->wscratch,
                                              sizeof(float) * (size_t)p->wscratch_floats * (size_t)net->threads,
                                              "Winograd scratch"));
    return PADIM_OK;
}

padim_status bb_dnnl_create(const bb_weights *w, int S, int threads, int bf16, bb_dnnl_net **out) {
    *out = NULL;
    if (!w || S <= 0) return padim_fail(PADIM_ERR_ARG, "bb_dnnl_create: no weights or side %d", S);
    if (bf16 && !bb_dnnl_has_bf16())
        return padim_fail(PADIM_ERR_ARG,
                          "--precision bf16 on the CPU needs a processor with AVX512-BF16 or AMX; this one "
                          "offers %s (use fp32, the exact default)",
                          bb_dnnl_isa());
    bb_dnnl_net *net;
    PADIM_TRY(padim_calloc((void **)&net, sizeof(*net), "oneDNN backbone"));
    net->w = w;
    net->S = S;
    net->threads = padim_thread_count(threads);
    net->bf16 = bf16;
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    net->bs = (isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core ? 16 : 8;
    net->blocked = net->bs == 16 ? dnnl_nChw16c : dnnl_nChw8c;
    const char *wm = getenv("PADIM_WINOGRAD_MIN");
    net->wino_min = wm && *wm ? atoi(wm) : BB_DNNL_WINOGRAD_MIN;
    const char *wt = getenv("PADIM_WINOGRAD_TILE");
    net->wino_tile = wt && *wt ? atoi(wt) : BB_DNNL_WINOGRAD_TILE;
    const char *wc = getenv("PADIM_WINOGRAD_CHUNK"); /* tuning and tests */
    net->wino_chunk = wc && *wc ? atoi(wc) : WINOB_CHUNK;
    if (net->wino_chunk < 1 || net->wino_chunk > 4096) net->wino_chunk = WINOB_CHUNK;
    if (net->wino_tile != 2 && net->wino_tile != 4) {
        free(net);
        return padim_fail(PADIM_ERR_ARG, "PADIM_WINOGRAD_TILE is '%s': expected 2 or 4", wt);
    }
    if (net->threads > 256) net->threads = 256;
    dnnl_status_t s = dnnl_engine_create(&net->engine, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&net->stream, net->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        bb_dnnl_destroy(net);
        return dn_fail(s, "CPU engine");
    }
    *out = net;
    return PADIM_OK;
}

void bb_dnnl_destroy(bb_dnnl_net *net) {
    if (!net) return;
    for (int i = 0; i < 2; i++) plan_free(net->plans[i]);
    for (int i = 0; i < BB_MAX_CONVS; i++) free(net->wU[i]);
    if (net->stream) dnnl_stream_destroy(net->stream);
    if (net->engine) dnnl_engine_destroy(net->engine);
    free(net);
}

static padim_status run_plan(bb_dnnl_net *net, dn_plan *p, const float *x, float *l1, float *l2, float *l3) {
    DN(dnnl_memory_set_data_handle(p->x_user, (void *)x), "input");
    float *outs[3] = {l1, l2, l3};
    for (int L = 0; L < 3; L++) DN(dnnl_memory_set_data_handle(p->out_user[L], outs[L]), "output");
    double *prof = bb_cpu_profile_get();
    for (int i = 0; i < p->nsteps; i++) {
        const dn_step *s = &p->steps[i];
        const double t0 = prof ? padim_now() : 0;
        if (s->wino.U) {
            const dn_wino *w = &s->wino;
            DN(dnnl_stream_wait(net->stream), "stream");
            winob_conv3x3(w->U, w->bias, w->src, p->n, w->C, w->H, w->H, w->K, w->dst, w->sum, w->relu, net->bs,
                          net->wino_tile, net->wino_chunk, p->wscratch, net->threads);
        } else if (!s->prim) {
            DN(dnnl_stream_wait(net->stream), "stream");
            memcpy(s->to, s->from, s->bytes);
        } else {
            DN(dnnl_primitive_execute(s->prim, net->stream, s->nargs, s->args), "execute");
        }
        if (prof) {
            DN(dnnl_stream_wait(net->stream), "stream");
            prof[s->slot] += padim_now() - t0;
        }
    }
    DN(dnnl_stream_wait(net->stream), "stream");
    return PADIM_OK;
}

/* The plan for batch n: kept, or made now (replacing the other kept one when both slots
 * hold other sizes). The caller has set the OpenMP thread count. */
static padim_status get_plan(bb_dnnl_net *net, int n, dn_plan **out) {
    for (int i = 0; i < 2; i++)
        if (net->plans[i] && net->plans[i]->n == n) {
            *out = net->plans[i];
            return PADIM_OK;
        }
    const int slot = net->plans[0] ? 1 : 0;
    plan_free(net->plans[slot]);
    net->plans[slot] = NULL;
    dn_plan *p;
    PADIM_TRY(padim_calloc((void **)&p, sizeof(*p), "oneDNN backbone plan"));
    p->n = n;
    padim_status st = plan_build(net, p);
    if (st != PADIM_OK) {
        plan_free(p);
        return st;
    }
    *out = net->plans[slot] = p;
    return PADIM_OK;
}

padim_status bb_dnnl_prepare(bb_dnnl_net *net, int n) {
    if (!net || n <= 0) return padim_fail(PADIM_ERR_ARG, "bb_dnnl_prepare: NULL net or n = %d", n);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(net->threads);
    dn_plan *p;
    const padim_status st = get_plan(net, n, &p);
    omp_set_num_threads(saved);
    return st;
}

padim_status bb_dnnl_forward(bb_dnnl_net *net, const float *x, int n, float *l1, float *l2, float *l3) {
    if (!net || !x || !l1 || !l2 || !l3 || n <= 0)
        return padim_fail(PADIM_ERR_ARG, "bb_dnnl_forward: NULL argument or n = %d", n);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(net->threads);
    dn_plan *p = NULL;
    padim_status st = get_plan(net, n, &p);
    if (st == PADIM_OK) {
        cpu_blas_single_begin(); /* the Winograd steps' GEMMs run inside our threads */
        st = run_plan(net, p, x, l1, l2, l3);
        cpu_blas_single_end();
    }
    omp_set_num_threads(saved);
    return st;
}

#else /* !PADIM_HAVE_DNNL */

int bb_dnnl_available(void) { return 0; }
const char *bb_dnnl_isa(void) { return "unknown (built without oneDNN)"; }
int bb_dnnl_has_bf16(void) { return 0; }
padim_status bb_dnnl_create(const bb_weights *w, int S, int threads, int bf16, bb_dnnl_net **out) {
    (void)w, (void)S, (void)threads;
    *out = NULL;
    return padim_fail(PADIM_ERR_ARG, "%s needs the oneDNN backbone, and this build has none (configure with "
                      "oneDNN, Debian's libdnnl-dev, installed)",
                      bf16 ? "--precision bf16 on the CPU" : "the oneDNN CPU backbone");
}
padim_status bb_dnnl_prepare(bb_dnnl_net *net, int n) {
    (void)net, (void)n;
    return padim_fail(PADIM_ERR_ARG, "built without oneDNN");
}
padim_status bb_dnnl_forward(bb_dnnl_net *net, const float *x, int n, float *l1, float *l2, float *l3) {
    (void)net, (void)x, (void)n, (void)l1, (void)l2, (void)l3;
    return padim_fail(PADIM_ERR_ARG, "bb_dnnl_forward: built without oneDNN");
}
void bb_dnnl_destroy(bb_dnnl_net *net) { (void)net; }

#endif
