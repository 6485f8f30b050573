/*
 * backbone_cpu.c - the CPU forward pass of the backbone (conv1 .. layer3, see backbone.h):
 * the reference the cuDNN path is checked against, and the feature extractor of the CPU
 * backend.
 *
 * Every convolution is a GEMM on one image's NCHW planes:
 *   out (cout, Ho*Wo) = W (cout, cin*k*k) x col (cin*k*k, Ho*Wo)
 * where col is the im2col matrix. A 1x1 stride-1 convolution uses the input plane itself
 * as col (no copy). The output positions are cut into chunks of whole output rows; each
 * chunk is im2col'ed into a small per-thread buffer, multiplied (cblas_sgemm, float32
 * accumulation as OpenBLAS does it) and finished (bias, residual, ReLU) while it is still
 * in cache. Residual blocks: the shortcut is added in the last conv's finishing pass
 * (identity) or the downsample conv writes the block output first and the last conv
 * accumulates onto it (GEMM beta = 1).
 *
 * Threads. Three schemes measured on the 2-core dev machine (R18 at 256x256, 2 threads,
 * ms per image; benchmarks/RESULTS.md has the full table):
 *   (a) whole-image im2col + one sgemm per conv, OpenBLAS given the threads: b1 54, b8 47;
 *   (b) one image per thread, OpenBLAS single-threaded:                     b8 29;
 *   (c) the chunks of each conv split across OpenMP threads, OpenBLAS 1 thread: b1 35,
 *       b8 33.
 * OpenBLAS threads small GEMMs poorly and leaves im2col serial, so (a) loses everywhere.
 * Chosen: (b) for the first n - n % threads images (no synchronization at all, one set
 * of activation buffers per thread), (c) for the rest (batch 1 still uses every thread).
 * OpenBLAS is set to one thread during the call and restored afterwards. (c) has a
 * barrier per conv: on a machine shared with other jobs, libgomp's spinning waits cost
 * up to 2x; OMP_WAIT_POLICY=passive avoids that there.
 * Chunk width: 512 output columns beat whole-image GEMMs by ~9% on R18 (59.6 vs 65.1 ms,
 * 1 thread) and were within 4% of them on WRN50; 256..2048 are within 5% of each other.
 *
 * Scratch: per thread, four activation buffers of one image (the largest activation of
 * the net) and one im2col chunk; nothing grows with n.
 */
#include "backbone_cpu.h"
#include "blas_threads.h"
#include "common.h"
#include "winograd.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* Output columns per chunk: big enough for OpenBLAS to run near peak (packing the
 * weights once per chunk is cheap against 2*cout*K*cols flops), small enough that the
 * chunk's col block and output stay in L2/L3 for the finishing pass. Measured (above). */
#define BB_CHUNK_COLS 512

static int out_side(int h, int k, int stride, int pad) { return (h + 2 * pad - k) / stride + 1; }

/* Chunking of a conv with Ho x Wo outputs over `threads` threads: rows per chunk. */
static int chunk_rows(int Ho, int Wo, int threads) {
    int rows = BB_CHUNK_COLS / Wo;
    if (rows < 1) rows = 1;
    if (rows > Ho) rows = Ho;
    int nchunks = (Ho + rows - 1) / rows;
    /* round the chunk count up to a multiple of the thread count, then even the rows */
    nchunks = ((nchunks + threads - 1) / threads) * threads;
    if (nchunks > Ho) nchunks = Ho;
    return (Ho + nchunks - 1) / nchunks;
}

static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* col (cin*k*k, (oy1-oy0)*Wo) = im2col of output rows [oy0, oy1) of x (cin, H, W). Zero
 * padding. */
static void im2col_rows(const float *x, int cin, int H, int W, int k, int s, int pad,
                        int oy0, int oy1, int Wo, float *col) {
    const int64_t pc = (int64_t)(oy1 - oy0) * Wo;
    float *dst = col;
    for (int c = 0; c < cin; c++) {
        const float *xc = x + (int64_t)c * H * W;
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++, dst += pc) {
                /* ix = ox*s - pad + kx in [0, W)  <=>  ox in [lo, hi) */
                int lo = pad - kx > 0 ? (pad - kx + s - 1) / s : 0;
                int hi = floor_div(W - 1 + pad - kx, s) + 1;
                if (lo > Wo) lo = Wo;
                if (hi > Wo) hi = Wo;
                if (hi < lo) hi = lo;
                for (int oy = oy0; oy < oy1; oy++) {
                    float *d = dst + (int64_t)(oy - oy0) * Wo;
                    const int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= H) {
                        memset(d, 0, sizeof(float) * (size_t)Wo);
                        continue;
                    }
                    const float *xr = xc + (int64_t)iy * W;
                    for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                    if (s == 1) {
                        memcpy(d + lo, xr + lo - pad + kx, sizeof(float) * (size_t)(hi - lo));
                    } else {
                        for (int ox = lo; ox < hi; ox++) d[ox] = xr[ox * s - pad + kx];
                    }
                    for (int ox = hi; ox < Wo; ox++) d[ox] = 0.0f;
                }
            }
        }
    }
}

typedef struct conv_args {
    const bb_conv_spec *cs;
    const float *w; /* (cout, cin, k, k) */
    const float *b; /* (cout) */
    const float *x; /* (cin, H, W) */
    int H, W;
    float *out;       /* (cout, Ho, Wo) */
    const float *res; /* (cout, Ho, Wo) added before the ReLU, or NULL */
    int accumulate;   /* out already holds a partial sum (the downsample branch) */
    int relu;
    int ci; /* index in the spec (profiling) */
    const float *U; /* Winograd filters (winograd.h) of a 3x3 stride-1 conv, or NULL: im2col */
} conv_args;

/* Profiling hook (bb_cpu_profile): seconds per conv index, [BB_MAX_CONVS] = the rest. */
static double *prof;

void bb_cpu_profile(double *seconds) { prof = seconds; }
double *bb_cpu_profile_get(void) { return prof; }

static void prof_add(int slot, double t0) {
    if (!prof) return;
    const double dt = padim_now() - t0;
#pragma omp atomic
    prof[slot] += dt;
}

/* One conv over one image, chunks split across `threads` OpenMP threads; col[t] holds
 * col_cap floats. */
static void conv_forward(const conv_args *a, float *const *col, int64_t col_cap, int threads) {
    const bb_conv_spec *cs = a->cs;
    const int Ho = out_side(a->H, cs->k, cs->stride, cs->pad);
    const int Wo = out_side(a->W, cs->k, cs->stride, cs->pad);
    const int64_t P = (int64_t)Ho * Wo;
    const int K = cs->cin * cs->k * cs->k;
    const int direct = cs->k == 1 && cs->stride == 1; /* col = x itself */
    const int rows = chunk_rows(Ho, Wo, threads);
    const int nchunks = (Ho + rows - 1) / rows;
    const double t0 = prof ? padim_now() : 0;
    if (a->U) {
        wino_conv3x3(a->U, a->b, a->x, cs->cin, a->H, a->W, cs->cout, a->out, a->res, a->accumulate, a->relu, col,
                     threads);
        prof_add(a->ci, t0);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int ch = 0; ch < nchunks; ch++) {
        const int oy0 = ch * rows;
        const int oy1 = oy0 + rows < Ho ? oy0 + rows : Ho;
        const int64_t p0 = (int64_t)oy0 * Wo, pc = (int64_t)(oy1 - oy0) * Wo;
        const float *B;
        int64_t ldb;
        if (direct) {
            B = a->x + p0;
            ldb = P;
        } else {
            float *cbuf = col[omp_get_thread_num()];
            PADIM_ASSERT((int64_t)K * pc <= col_cap);
            im2col_rows(a->x, cs->cin, a->H, a->W, cs->k, cs->stride, cs->pad, oy0, oy1, Wo,
                        cbuf);
            B = cbuf;
            ldb = pc;
        }
        float *C = a->out + p0; /* (cout, pc) with row stride P */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cs->cout, (blasint)pc, K, 1.0f,
                    a->w, K, B, (blasint)ldb, a->accumulate ? 1.0f : 0.0f, C, (blasint)P);
        /* finishing pass on the chunk: + bias (+ shortcut), ReLU */
        for (int c = 0; c < cs->cout; c++) {
            float *o = C + (int64_t)c * P;
            const float bc = a->b[c];
            if (a->res) {
                const float *r = a->res + (int64_t)c * P + p0;
                if (a->relu)
                    for (int64_t j = 0; j < pc; j++) {
                        const float v = o[j] + bc + r[j];
                        o[j] = v > 0.0f ? v : 0.0f;
                    }
                else
                    for (int64_t j = 0; j < pc; j++) o[j] += bc + r[j];
            } else if (a->relu) {
                for (int64_t j = 0; j < pc; j++) {
                    const float v = o[j] + bc;
                    o[j] = v > 0.0f ? v : 0.0f;
                }
            } else {
                for (int64_t j = 0; j < pc; j++) o[j] += bc;
            }
        }
    }
    prof_add(a->ci, t0);
}

/* out (C, Ho, Wo) = maxpool 3x3 / 2, pad 1 (padding is -inf: never selected) of
 * x (C, H, W). */
static void maxpool_3x3s2(const float *x, int C, int H, int W, float *out, int threads) {
    const int Ho = out_side(H, 3, 2, 1), Wo = out_side(W, 3, 2, 1);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (int64_t)c * H * W;
        float *oc = out + (int64_t)c * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            const int y0 = oy * 2 - 1 < 0 ? 0 : oy * 2 - 1;
            const int y1 = oy * 2 + 2 > H ? H : oy * 2 + 2;
            for (int ox = 0; ox < Wo; ox++) {
                const int x0 = ox * 2 - 1 < 0 ? 0 : ox * 2 - 1;
                const int x1 = ox * 2 + 2 > W ? W : ox * 2 + 2;
                float m = xc[(int64_t)y0 * W + x0]; /* the window always holds (2oy, 2ox) */
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) {
                        const float v = xc[(int64_t)yy * W + xx];
                        m = v > m ? v : m;
                    }
                oc[(int64_t)oy * Wo + ox] = m;
            }
        }
    }
}

/* Scratch sizes for side S: the largest activation of one image (floats) and the largest
 * im2col chunk (floats). Walks the net the way forward_image does. */
static void scratch_sizes(const bb_spec *sp, const bb_cpu_prep *prep, int S, int threads, int64_t *act_max,
                          int64_t *col_max) {
    int64_t amax = 0, cmax = 0;
    int h = S;
#define TRACK_CONV(ci, hin)                                                               \
    do {                                                                                  \
        const bb_conv_spec *cs_ = &sp->convs[(ci)];                                       \
        const int ho_ = out_side((hin), cs_->k, cs_->stride, cs_->pad);                   \
        const int64_t o_ = (int64_t)cs_->cout * ho_ * ho_;                                \
        if (o_ > amax) amax = o_;                                                         \
        if (prep && prep->U[(ci)]) {                                                      \
            const int64_t c_ = wino_scratch_floats(cs_->cin, cs_->cout, (hin), (hin), threads); \
            if (c_ > cmax) cmax = c_;                                                     \
        } else if (!(cs_->k == 1 && cs_->stride == 1)) {                                  \
            const int64_t c_ = (int64_t)cs_->cin * cs_->k * cs_->k *                      \
                               chunk_rows(ho_, ho_, threads) * ho_;                       \
            if (c_ > cmax) cmax = c_;                                                     \
        }                                                                                 \
    } while (0)
    TRACK_CONV(0, h);
    h = out_side(h, 7, 2, 3);
    h = out_side(h, 3, 2, 1); /* maxpool */
    if ((int64_t)64 * h * h > amax) amax = (int64_t)64 * h * h;
    for (int L = 0; L < 3; L++) {
        for (int bi = 0; bi < sp->n_blocks[L]; bi++) {
            const bb_block *bk = &sp->blocks[L][bi];
            TRACK_CONV(bk->a, h);
            const int ha = out_side(h, sp->convs[bk->a].k, sp->convs[bk->a].stride,
                                    sp->convs[bk->a].pad);
            TRACK_CONV(bk->b, ha);
            const int hb = out_side(ha, sp->convs[bk->b].k, sp->convs[bk->b].stride,
                                    sp->convs[bk->b].pad);
            if (bk->c >= 0) TRACK_CONV(bk->c, hb);
            if (bk->down >= 0) TRACK_CONV(bk->down, h);
            h = hb;
        }
    }
#undef TRACK_CONV
    *act_max = amax;
    *col_max = cmax;
}

/* conv1 .. layer3 on one image x (3, S, S); outputs (C_L, h_L, h_L) for L = 1..3.
 * buf[0..3]: activation scratch of act_max floats each. */
static void forward_image(const bb_weights *wt, const bb_cpu_prep *prep, const float *x, int S, float *const *buf,
                          float *const *col, int64_t col_cap, int threads, float *const *outs) {
#define WINO(ci) (prep ? prep->U[(ci)] : NULL)
    const bb_spec *sp = &wt->spec;
    conv_args a = {0};
    a.cs = &sp->convs[0];
    a.w = wt->w[0];
    a.b = wt->b[0];
    a.x = x;
    a.H = a.W = S;
    a.out = buf[0];
    a.relu = 1;
    a.ci = 0;
    conv_forward(&a, col, col_cap, threads);
    int h = out_side(S, 7, 2, 3);
    const double tp = prof ? padim_now() : 0;
    maxpool_3x3s2(buf[0], 64, h, h, buf[1], threads);
    prof_add(BB_MAX_CONVS, tp);
    h = out_side(h, 3, 2, 1);

    const float *cur = buf[1]; /* block input: a scratch buffer or a previous layer output */
    for (int L = 0; L < 3; L++) {
        for (int bi = 0; bi < sp->n_blocks[L]; bi++) {
            const bb_block *bk = &sp->blocks[L][bi];
            /* three scratch buffers other than the input */
            float *free_bufs[3];
            int nf = 0;
            for (int i = 0; i < 4 && nf < 3; i++)
                if (buf[i] != cur) free_bufs[nf++] = buf[i];
            float *t1 = free_bufs[0], *t2 = free_bufs[1];
            float *o = bi == sp->n_blocks[L] - 1 ? outs[L] : free_bufs[2];
            const int last = bk->c >= 0 ? bk->c : bk->b;

            /* shortcut first: the downsample conv writes the block output (bias, no ReLU) */
            if (bk->down >= 0) {
                conv_args d = {sp->convs + bk->down, wt->w[bk->down], wt->b[bk->down], cur,
                               h, h, o, NULL, 0, 0, bk->down, WINO(bk->down)};
                conv_forward(&d, col, col_cap, threads);
            }
            conv_args c1 = {sp->convs + bk->a, wt->w[bk->a], wt->b[bk->a], cur, h, h, t1,
                            NULL, 0, 1, bk->a, WINO(bk->a)};
            conv_forward(&c1, col, col_cap, threads);
            const int ha = out_side(h, c1.cs->k, c1.cs->stride, c1.cs->pad);
            const float *in_last = t1;
            int hl = ha;
            if (bk->c >= 0) {
                conv_args c2 = {sp->convs + bk->b, wt->w[bk->b], wt->b[bk->b], t1, ha, ha, t2,
                                NULL, 0, 1, bk->b, WINO(bk->b)};
                conv_forward(&c2, col, col_cap, threads);
                in_last = t2;
                hl = out_side(ha, c2.cs->k, c2.cs->stride, c2.cs->pad);
            }
            conv_args cl = {sp->convs + last, wt->w[last], wt->b[last], in_last, hl, hl, o,
                            bk->down >= 0 ? NULL : cur, bk->down >= 0, 1, last, WINO(last)};
            conv_forward(&cl, col, col_cap, threads);
            h = out_side(hl, cl.cs->k, cl.cs->stride, cl.cs->pad);
            cur = o;
        }
    }
#undef WINO
}

padim_status bb_cpu_prep_make(const bb_weights *w, int min_channels, bb_cpu_prep *out) {
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < w->spec.n_convs; i++) {
        const bb_conv_spec *cs = &w->spec.convs[i];
        if (cs->k != 3 || cs->stride != 1 || cs->pad != 1 || cs->cin < min_channels) continue;
        padim_status st = wino_filters(w->w[i], cs->cout, cs->cin, &out->U[i]);
        if (st != PADIM_OK) {
            bb_cpu_prep_free(out);
            return st;
        }
    }
    return PADIM_OK;
}

void bb_cpu_prep_free(bb_cpu_prep *p) {
    for (int i = 0; i < BB_MAX_CONVS; i++) free(p->U[i]);
    memset(p, 0, sizeof(*p));
}

padim_status bb_forward_cpu(const bb_weights *w, const float *x, int n, int S, int threads,
                            float *l1, float *l2, float *l3) {
    return bb_forward_cpu_ex(w, NULL, x, n, S, threads, l1, l2, l3);
}

padim_status bb_forward_cpu_ex(const bb_weights *w, const bb_cpu_prep *prep, const float *x, int n, int S,
                               int threads, float *l1, float *l2, float *l3) {
    if (!w || !x || !l1 || !l2 || !l3)
        return padim_fail(PADIM_ERR_ARG, "bb_forward_cpu: NULL argument");
    if (n <= 0 || S <= 0)
        return padim_fail(PADIM_ERR_ARG, "bb_forward_cpu: n = %d images, side S = %d: both must be > 0", n, S);
    const bb_spec *sp = &w->spec;
    for (int i = 0; i < sp->n_convs; i++)
        if (!w->w[i] || !w->b[i])
            return padim_fail(PADIM_ERR_ARG, "bb_forward_cpu: weights of conv %s not loaded",
                              sp->convs[i].name);
    threads = padim_thread_count(threads);
    if (threads > 256) threads = 256;

    /* images [0, n_outer): one per thread; the rest: each conv split across threads */
    const int n_outer = threads > 1 ? n / threads * threads : 0;
    const int nsets = n_outer > 0 ? threads : 1;
    int64_t act_max, col_max, act1, col1;
    scratch_sizes(sp, prep, S, threads, &act_max, &col_max);
    scratch_sizes(sp, prep, S, 1, &act1, &col1);
    if (col1 > col_max) col_max = col1;
    if (col_max < 1) col_max = 1;
    float *buf[256][4] = {{0}}, *col[256] = {0};
    padim_status st = PADIM_OK;
    for (int t = 0; t < nsets; t++)
        for (int i = 0; i < 4 && st == PADIM_OK; i++)
            st = padim_alloc_aligned((void **)&buf[t][i], sizeof(float) * (size_t)act_max,
                                     "backbone activations");
    for (int t = 0; t < threads && st == PADIM_OK; t++)
        st = padim_alloc_aligned((void **)&col[t], sizeof(float) * (size_t)col_max,
                                 "backbone im2col chunk");
    if (st == PADIM_OK) {
        cpu_blas_single_begin(); /* our threads split the work; each GEMM on one */
        int h1, h2, h3;
        bb_feature_sizes(S, &h1, &h2, &h3);
        const int64_t in_sz = (int64_t)3 * S * S;
        const int64_t o_sz[3] = {(int64_t)sp->channels[0] * h1 * h1,
                                 (int64_t)sp->channels[1] * h2 * h2,
                                 (int64_t)sp->channels[2] * h3 * h3};
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (n_outer > 0)
        for (int i = 0; i < n_outer; i++) {
            const int t = omp_get_thread_num();
            float *outs[3] = {l1 + i * o_sz[0], l2 + i * o_sz[1], l3 + i * o_sz[2]};
            forward_image(w, prep, x + i * in_sz, S, buf[t], col + t, col_max, 1, outs);
        }
        for (int i = n_outer; i < n; i++) {
            float *outs[3] = {l1 + i * o_sz[0], l2 + i * o_sz[1], l3 + i * o_sz[2]};
            forward_image(w, prep, x + i * in_sz, S, buf[0], col, col_max, threads, outs);
        }
        cpu_blas_single_end();
    }
    for (int t = 0; t < nsets; t++)
        for (int i = 0; i < 4; i++) free(buf[t][i]);
    for (int t = 0; t < threads; t++) free(col[t]);
    return st;
}
