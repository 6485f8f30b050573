/*
 * winograd_blocked.c - F(2x2, 3x3) and F(4x4, 3x3) on nChw8c / nChw16c (see
 * winograd_blocked.h).
 *
 * The tiles of the whole batch (image, tile row, tile column, flattened) are cut into
 * chunks of `chunk` tiles (WINOB_CHUNK), split across OpenMP threads, so that small
 * layers (16x16 at layer3) still give GEMMs of many rows. Per chunk: input transform into
 * V (Tc, T*T, C), T*T SGEMMs into M (Tc, T*T, K), output transform with bias, sum and ReLU
 * while M is in cache. Batches with fewer tiles than a chunk per thread run as one chunk,
 * each phase split across the threads (winob_conv3x3).
 * The transforms are written for a block of BS channels and a tile of M outputs, both
 * compile-time constants (four instantiations, each built twice: WB_PART), so that the
 * compiler unrolls the small matrix products over 8-channel vectors.
 */
#include "winograd_blocked.h"
#include "winograd.h"
#include "cpu_isa.h"

#include <cblas.h>
#ifdef PADIM_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* G g G^T for F(4x4, 3x3) (Lavin and Gray's points 0, +-1, +-2, infinity), in double,
 * rounded once to float: u[xi], xi = 6 i + j. */
static void filter_tile4(const float *g, float u[36]) {
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    double t[6][3];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) u[i * 6 + j] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

/* Row-major M (rows, K) = V (rows, C) x U (C, K), leading dimensions ldv / ldm, one thread
 * (the caller's OpenMP loop). oneDNN's SGEMM where it is built: its kernels are generated
 * for the processor found at run time, so a processor newer than OpenBLAS knows does not
 * get old ones (blas_info.c), and it is faster on these shapes (RESULTS.md).
 * PADIM_WINOGRAD_GEMM=openblas takes OpenBLAS's instead (A/B runs). */
static void wb_sgemm(int rows, int K, int C, const float *V, int64_t ldv, const float *U, float *M, int64_t ldm) {
#ifdef PADIM_HAVE_DNNL
    static int use_dnnl = -1;
    if (use_dnnl < 0) {
        const char *e = getenv("PADIM_WINOGRAD_GEMM");
        use_dnnl = !(e && !strcmp(e, "openblas"));
    }
    if (use_dnnl) {
        /* outside an active parallel region oneDNN would thread the GEMM itself (and might
         * split its sums): keep it on this thread, as inside one */
        const int outside = !omp_in_parallel(), saved = outside ? omp_get_max_threads() : 1;
        if (outside) omp_set_num_threads(1);
        const dnnl_status_t st = dnnl_sgemm('N', 'N', rows, K, C, 1.0f, V, ldv, U, K, 0.0f, M, ldm);
        if (outside) omp_set_num_threads(saved);
        if (st == dnnl_success) return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, K, C, 1.0f, V, (int)ldv, U, K, 0.0f, M, (int)ldm);
}

padim_status winob_filters(const float *w, int K, int C, int m, float **U) {
    const int T = m + 2, TT = T * T;
    PADIM_TRY(padim_alloc_aligned((void **)U, sizeof(float) * (size_t)TT * (size_t)K * (size_t)C,
                                  "Winograd filters"));
    const size_t CK = (size_t)C * (size_t)K;
    /* c outer, k inner: the TT writes of each filter land next to the previous filter's */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int k = 0; k < K; k++) {
            float u[36];
            if (m == 4)
                filter_tile4(w + ((size_t)k * C + c) * 9, u);
            else
                wino_filter_tile(w + ((size_t)k * C + c) * 9, u);
            for (int xi = 0; xi < TT; xi++) (*U)[(size_t)xi * CK + (size_t)c * K + k] = u[xi];
        }
    return PADIM_OK;
}

int64_t winob_scratch_floats(int C, int K, int m, int chunk) {
    const int64_t TT = (m + 2) * (m + 2);
    return (int64_t)chunk * (TT * C + 16 + TT * K + 16); /* wb_layout_of */
}

/* Eight channels of a blocked pixel as one vector (GCC/clang vector extensions: one ymm
 * with AVX, two xmm on plain x86-64), loaded and stored unaligned, aliasing float. */
typedef float wv8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int wi8 __attribute__((vector_size(32), aligned(4), may_alias));

/* The 1-D input transform B^T of 4 values (F(2x2, 3x3)). */
#define WB_BT4(d0, d1, d2, d3, r0, r1, r2, r3)                                  \
    do {                                                                        \
        const wv8 e0 = (d0), e1 = (d1), e2 = (d2), e3 = (d3);                   \
        r0 = e0 - e2;                                                           \
        r1 = e1 + e2;                                                           \
        r2 = e2 - e1;                                                           \
        r3 = e1 - e3;                                                           \
    } while (0)

/* The 1-D output transform A^T of 4 values (F(2x2, 3x3)). */
#define WB_AT4(m0, m1, m2, m3, o0, o1)                                          \
    do {                                                                        \
        const wv8 f1 = (m1), f2 = (m2);                                         \
        o0 = (m0) + f1 + f2;                                                    \
        o1 = f1 - f2 - (m3);                                                    \
    } while (0)

/* The 1-D input transform B^T of 6 values (F(4x4, 3x3)). */
#define WB_BT6(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5)                  \
    do {                                                                        \
        const wv8 e0 = (d0), e1 = (d1), e2 = (d2), e3 = (d3), e4 = (d4), e5 = (d5); \
        const wv8 s12 = e1 + e2, t43 = e4 + e3, q12 = e1 - e2, u43 = e4 - e3;   \
        const wv8 u42 = e4 - e2, u31 = e3 - e1;                                 \
        r0 = 4.0f * e0 - 5.0f * e2 + e4;                                        \
        r1 = t43 - 4.0f * s12;                                                  \
        r2 = u43 + 4.0f * q12;                                                  \
        r3 = u42 + 2.0f * u31;                                                  \
        r4 = u42 - 2.0f * u31;                                                  \
        r5 = 4.0f * e1 - 5.0f * e3 + e5;                                        \
    } while (0)

/* The 1-D output transform A^T of 6 values (F(4x4, 3x3)). */
#define WB_AT6(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                         \
    do {                                                                        \
        const wv8 p12 = (m1) + (m2), q12 = (m1) - (m2);                         \
        const wv8 p34 = (m3) + (m4), q34 = (m3) - (m4);                         \
        const wv8 f0 = (m0), f5 = (m5);                                         \
        o0 = f0 + p12 + p34;                                                    \
        o1 = q12 + 2.0f * q34;                                                  \
        o2 = p12 + 4.0f * p34;                                                  \
        o3 = q12 + 8.0f * q34 + f5;                                             \
    } while (0)

/* Where V and M of Tc tiles lie in a scratch: tile-major, V (Tc, T*T, C) and M (Tc, T*T, K),
 * rows padded by 16 floats (rows of 36 x 256 floats would be a multiple of 4 KiB apart);
 * the GEMM of matrix xi reads rows T*T*C + 16 apart. A tile's T*T values then sit in one
 * small region that the transforms write and read (matrix-major, V (T*T, Tc, C), spread
 * them over T*T streams: measured about 5% slower end to end). */
typedef struct wb_layout {
    float *V, *M;
    int64_t vs, vr, ms, mr; /* distance between matrices xi, between tiles */
} wb_layout;

static void wb_layout_of(int Tc, int C, int K, int TT, float *scratch, wb_layout *L) {
    L->vs = C, L->vr = (int64_t)TT * C + 16, L->ms = K, L->mr = (int64_t)TT * K + 16;
    L->V = scratch, L->M = scratch + Tc * L->vr;
}

typedef struct wb_args {
    const float *U, *bias, *src;
    float *dst;
    int C, H, W, K, sum, relu;
} wb_args;

static inline __attribute__((always_inline)) void wb_part(const wb_args *a, int t0, int t1, const wb_layout *L,
                                                          int cb0, int cb1, int xi0, int xi1, int kb0, int kb1,
                                                          const int BS, const int M) {
    const float *U = a->U, *bias = a->bias, *src = a->src;
    float *dst = a->dst;
    const int C = a->C, H = a->H, W = a->W, K = a->K, sum = a->sum, relu = a->relu;
    float *V = L->V, *Mx = L->M;
    const int64_t vs = L->vs, vr = L->vr, ms = L->ms, mr = L->mr;
    const int T = M + 2;
    const int th = (H + M - 1) / M, tw = (W + M - 1) / M, tpi = th * tw;
    const int Tc = t1 - t0;
    const int CB = C / BS, KB = K / BS;
    const wv8 zero = {0};
    /* input transform: V[t][xi][c] = (B^T d B)[xi], 8 channels at a time */
    for (int t = t0; t < t1 && cb1 > cb0; t++) {
        const int ni = t / tpi, ty = t % tpi / tw, tx = t % tw;
        const int y0 = M * ty - 1, x0 = M * tx - 1;
        const int interior = y0 >= 0 && y0 + T <= H && x0 >= 0 && x0 + T <= W;
        for (int cb = cb0; cb < cb1; cb++)
            for (int h = 0; h < BS; h += 8) {
                const float *xc = src + ((int64_t)ni * CB + cb) * H * W * BS + h;
                float *v = V + (int64_t)(t - t0) * vr + cb * BS + h;
                wv8 d[6][6];
                for (int i = 0; i < T; i++)
                    for (int j = 0; j < T; j++) {
                        const int y = y0 + i, x = x0 + j;
                        d[i][j] = interior || (y >= 0 && y < H && x >= 0 && x < W)
                                      ? *(const wv8 *)(xc + ((int64_t)y * W + x) * BS)
                                      : zero;
                    }
                if (M == 2) {
                    for (int j = 0; j < 4; j++) /* B^T d, in place */
                        WB_BT4(d[0][j], d[1][j], d[2][j], d[3][j], d[0][j], d[1][j], d[2][j], d[3][j]);
                    for (int i = 0; i < 4; i++) /* (B^T d) B */
                        WB_BT4(d[i][0], d[i][1], d[i][2], d[i][3], *(wv8 *)(v + (i * 4 + 0) * vs),
                               *(wv8 *)(v + (i * 4 + 1) * vs), *(wv8 *)(v + (i * 4 + 2) * vs),
                               *(wv8 *)(v + (i * 4 + 3) * vs));
                } else {
                    for (int j = 0; j < 6; j++)
                        WB_BT6(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], d[0][j], d[1][j], d[2][j],
                               d[3][j], d[4][j], d[5][j]);
                    for (int i = 0; i < 6; i++)
                        WB_BT6(d[i][0], d[i][1], d[i][2], d[i][3], d[i][4], d[i][5], *(wv8 *)(v + (i * 6 + 0) * vs),
                               *(wv8 *)(v + (i * 6 + 1) * vs), *(wv8 *)(v + (i * 6 + 2) * vs),
                               *(wv8 *)(v + (i * 6 + 3) * vs), *(wv8 *)(v + (i * 6 + 4) * vs),
                               *(wv8 *)(v + (i * 6 + 5) * vs));
                }
            }
    }
    for (int xi = xi0; xi < xi1; xi++)
        wb_sgemm(Tc, K, C, V + xi * vs, vr, U + (int64_t)xi * C * K, Mx + xi * ms, mr);
    /* output transform: A^T m A + bias (+ dst), ReLU, 8 channels at a time */
    for (int t = t0; t < t1 && kb1 > kb0; t++) {
        const int ni = t / tpi, ty = t % tpi / tw, tx = t % tw;
        for (int kb = kb0; kb < kb1; kb++)
            for (int h = 0; h < BS; h += 8) {
                float *oc = dst + ((int64_t)ni * KB + kb) * H * W * BS + h;
                const float *m = Mx + (int64_t)(t - t0) * mr + kb * BS + h;
                const wv8 bk = *(const wv8 *)(bias + kb * BS + h);
                wv8 o[4][4];
                if (M == 2) {
                    wv8 s2[2][4];
                    for (int j = 0; j < 4; j++)
                        WB_AT4(*(const wv8 *)(m + (0 + j) * ms), *(const wv8 *)(m + (4 + j) * ms),
                               *(const wv8 *)(m + (8 + j) * ms), *(const wv8 *)(m + (12 + j) * ms), s2[0][j],
                               s2[1][j]);
                    for (int i = 0; i < 2; i++) WB_AT4(s2[i][0], s2[i][1], s2[i][2], s2[i][3], o[i][0], o[i][1]);
                } else {
                    wv8 s4[4][6];
                    for (int j = 0; j < 6; j++)
                        WB_AT6(*(const wv8 *)(m + (0 + j) * ms), *(const wv8 *)(m + (6 + j) * ms),
                               *(const wv8 *)(m + (12 + j) * ms), *(const wv8 *)(m + (18 + j) * ms),
                               *(const wv8 *)(m + (24 + j) * ms), *(const wv8 *)(m + (30 + j) * ms), s4[0][j],
                               s4[1][j], s4[2][j], s4[3][j]);
                    for (int i = 0; i < 4; i++)
                        WB_AT6(s4[i][0], s4[i][1], s4[i][2], s4[i][3], s4[i][4], s4[i][5], o[i][0], o[i][1],
                               o[i][2], o[i][3]);
                }
                for (int i = 0; i < M; i++) {
                    const int y = M * ty + i;
                    if (y >= H) break;
                    for (int j = 0; j < M; j++) {
                        const int x = M * tx + j;
                        if (x >= W) break;
                        wv8 *op = (wv8 *)(oc + ((int64_t)y * W + x) * BS);
                        wv8 r = o[i][j] + bk;
                        if (sum) r += *op;
                        if (relu) r = (wv8)((wi8)r & ~(wi8)(r < zero)); /* as v < 0 ? 0 : v */
                        *op = r;
                    }
                }
            }
    }
}

typedef void (*wb_part_fn)(const wb_args *a, int t0, int t1, const wb_layout *L, int cb0, int cb1, int xi0,
                           int xi1, int kb0, int kb1);

/* The parts for each (BS, M), built for any x86-64 (a vector of 8 is two SSE registers)
 * and for AVX2 (one register), picked at run time (cpu_isa.h). No FMA is formed in either
 * (ISO C: no contraction), so both give the same bits. */
#define WB_PART(name, BS, M, ATTR)                                                                          \
    ATTR static void name(const wb_args *a, int t0, int t1, const wb_layout *L, int cb0, int cb1, int xi0, \
                          int xi1, int kb0, int kb1) {                                                     \
        wb_part(a, t0, t1, L, cb0, cb1, xi0, xi1, kb0, kb1, BS, M);                                        \
    }
#define WB_ANY
WB_PART(wb_8_2, 8, 2, WB_ANY)
WB_PART(wb_16_2, 16, 2, WB_ANY)
WB_PART(wb_8_4, 8, 4, WB_ANY)
WB_PART(wb_16_4, 16, 4, WB_ANY)
#ifdef PADIM_CPU_X86
#define WB_AVX2 __attribute__((target("avx2")))
WB_PART(wb_8_2_avx2, 8, 2, WB_AVX2)
WB_PART(wb_16_2_avx2, 16, 2, WB_AVX2)
WB_PART(wb_8_4_avx2, 8, 4, WB_AVX2)
WB_PART(wb_16_4_avx2, 16, 4, WB_AVX2)
#endif

static wb_part_fn wb_pick(int bs, int m) {
#ifdef PADIM_CPU_X86
    if (cpu_avx2_fma())
        return m == 4 ? (bs == 16 ? wb_16_4_avx2 : wb_8_4_avx2) : (bs == 16 ? wb_16_2_avx2 : wb_8_2_avx2);
#endif
    return m == 4 ? (bs == 16 ? wb_16_4 : wb_8_4) : (bs == 16 ? wb_16_2 : wb_8_2);
}

/* Chunked: each thread transforms, multiplies and transforms back whole chunks of tiles
 * in its own slice of the scratch. When the batch has fewer tiles than that per thread
 * (small layers at small batches), the chunks would make GEMMs of a few rows; then all
 * tiles are one chunk in the shared scratch and the three phases are split across the
 * threads by channel block, matrix and output block in turn. */
void winob_conv3x3(const float *U, const float *bias, const float *src, int n, int C, int H, int W, int K,
                   float *dst, int sum, int relu, int bs, int m, int chunk, float *scratch, int threads) {
    const wb_args a = {U, bias, src, dst, C, H, W, K, sum, relu};
    const wb_part_fn part = wb_pick(bs, m);
    const int TT = (m + 2) * (m + 2), CB = C / bs, KB = K / bs;
    const int tiles = n * ((H + m - 1) / m) * ((W + m - 1) / m);
    if (chunk < 1) chunk = 1;
    if (threads > 1 && tiles < threads * chunk) {
        wb_layout L;
        wb_layout_of(tiles, C, K, TT, scratch, &L);
#pragma omp parallel num_threads(threads)
        {
#pragma omp for schedule(static)
            for (int cb = 0; cb < CB; cb++) part(&a, 0, tiles, &L, cb, cb + 1, 0, 0, 0, 0);
#pragma omp for schedule(static)
            for (int xi = 0; xi < TT; xi++) part(&a, 0, tiles, &L, 0, 0, xi, xi + 1, 0, 0);
#pragma omp for schedule(static)
            for (int kb = 0; kb < KB; kb++) part(&a, 0, tiles, &L, 0, 0, 0, 0, kb, kb + 1);
        }
        return;
    }
    const int64_t slice = winob_scratch_floats(C, K, m, chunk);
    const int items = (tiles + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && items > 1)
    for (int it = 0; it < items; it++) {
        const int t0 = it * chunk, t1 = t0 + chunk < tiles ? t0 + chunk : tiles;
        wb_layout L;
        wb_layout_of(t1 - t0, C, K, TT, scratch + omp_get_thread_num() * slice, &L);
        part(&a, t0, t1, &L, 0, CB, 0, TT, 0, KB);
    }
}
