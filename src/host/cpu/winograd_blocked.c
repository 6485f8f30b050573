/*
 * winograd_blocked.c - F(2x2, 3x3) on nChw8c / nChw16c (see winograd_blocked.h).
 *
 * Work items are (image, chunk of tile rows) of about WB_TILES tiles, split across OpenMP
 * threads (at least one per thread where the image allows). Per item: input transform into
 * V (16, Tc, C), 16 SGEMMs into M (16, Tc, K), output transform with bias, sum and ReLU.
 * The transforms are written for a block of BS channels with BS a compile-time constant
 * (two instantiations, 8 and 16), so that the compiler keeps each block in SIMD registers.
 */
#include "winograd_blocked.h"
#include "winograd.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#define WB_TILES 64

static int wb_rows(int tw, int th) {
    int r = WB_TILES / tw;
    if (r < 1) r = 1;
    return r > th ? th : r;
}

padim_status winob_filters(const float *w, int K, int C, float **U) {
    PADIM_TRY(padim_alloc_aligned((void **)U, sizeof(float) * 16 * (size_t)K * (size_t)C, "Winograd filters"));
    const size_t CK = (size_t)C * (size_t)K;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            float u[16];
            wino_filter_tile(w + ((size_t)k * C + c) * 9, u);
            for (int xi = 0; xi < 16; xi++) (*U)[(size_t)xi * CK + (size_t)c * K + k] = u[xi];
        }
    return PADIM_OK;
}

int64_t winob_scratch_floats(int C, int K, int W) {
    const int tw = (W + 1) / 2;
    const int64_t tc = (int64_t)wb_rows(tw, 1 << 30) * tw;
    return 16 * (wino_xi_stride(tc * C) + wino_xi_stride(tc * K));
}

/* The body for one block size BS; always inlined into winob_8 / winob_16. */
static inline __attribute__((always_inline)) void wb_item(const float *U, const float *bias, const float *src,
                                                          int ni, int C, int H, int W, int K, float *dst, int sum,
                                                          int relu, int ty0, int ty1, float *V, const int BS) {
    const int tw = (W + 1) / 2;
    const int Tc = (ty1 - ty0) * tw;
    const int64_t vs = wino_xi_stride((int64_t)Tc * C), ms = wino_xi_stride((int64_t)Tc * K);
    float *M = V + 16 * vs;
    const int CB = C / BS, KB = K / BS;
    /* input transform: V[xi][t][c] = (B^T d B)[xi] */
    for (int cb = 0; cb < CB; cb++) {
        const float *xc = src + ((int64_t)ni * CB + cb) * H * W * BS;
        for (int ty = ty0; ty < ty1; ty++)
            for (int tx = 0; tx < tw; tx++) {
                float d[4][4][BS];
                for (int i = 0; i < 4; i++) {
                    const int y = 2 * ty - 1 + i;
                    for (int j = 0; j < 4; j++) {
                        const int x = 2 * tx - 1 + j;
                        if (y >= 0 && y < H && x >= 0 && x < W) {
                            const float *p = xc + ((int64_t)y * W + x) * BS;
                            for (int l = 0; l < BS; l++) d[i][j][l] = p[l];
                        } else {
                            for (int l = 0; l < BS; l++) d[i][j][l] = 0.0f;
                        }
                    }
                }
                float *v = V + ((int64_t)(ty - ty0) * tw + tx) * C + cb * BS;
                for (int j = 0; j < 4; j++) { /* B^T d, in place in rows 0..3 */
                    for (int l = 0; l < BS; l++) {
                        const float a0 = d[0][j][l], a1 = d[1][j][l], a2 = d[2][j][l], a3 = d[3][j][l];
                        d[0][j][l] = a0 - a2;
                        d[1][j][l] = a1 + a2;
                        d[2][j][l] = a2 - a1;
                        d[3][j][l] = a1 - a3;
                    }
                }
                for (int i = 0; i < 4; i++) /* (B^T d) B */
                    for (int l = 0; l < BS; l++) {
                        const float a0 = d[i][0][l], a1 = d[i][1][l], a2 = d[i][2][l], a3 = d[i][3][l];
                        v[(i * 4 + 0) * vs + l] = a0 - a2;
                        v[(i * 4 + 1) * vs + l] = a1 + a2;
                        v[(i * 4 + 2) * vs + l] = a2 - a1;
                        v[(i * 4 + 3) * vs + l] = a1 - a3;
                    }
            }
    }
    for (int xi = 0; xi < 16; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tc, K, C, 1.0f, V + xi * vs, C,
                    U + (int64_t)xi * C * K, K, 0.0f, M + xi * ms, K);
    /* output transform: A^T m A + bias (+ dst), ReLU */
    for (int kb = 0; kb < KB; kb++) {
        float *oc = dst + ((int64_t)ni * KB + kb) * H * W * BS;
        const float *bk = bias + kb * BS;
        for (int ty = ty0; ty < ty1; ty++)
            for (int tx = 0; tx < tw; tx++) {
                const float *m = M + ((int64_t)(ty - ty0) * tw + tx) * K + kb * BS;
                float s[2][4][BS];
                for (int j = 0; j < 4; j++)
                    for (int l = 0; l < BS; l++) {
                        const float m0 = m[(0 + j) * ms + l], m1 = m[(4 + j) * ms + l];
                        const float m2 = m[(8 + j) * ms + l], m3 = m[(12 + j) * ms + l];
                        s[0][j][l] = m0 + m1 + m2;
                        s[1][j][l] = m1 - m2 - m3;
                    }
                for (int i = 0; i < 2; i++) {
                    const int y = 2 * ty + i;
                    if (y >= H) break;
                    for (int j = 0; j < 2; j++) {
                        const int x = 2 * tx + j;
                        if (x >= W) break;
                        float *o = oc + ((int64_t)y * W + x) * BS;
                        for (int l = 0; l < BS; l++) {
                            float v = (j == 0 ? s[i][0][l] + s[i][1][l] + s[i][2][l]
                                              : s[i][1][l] - s[i][2][l] - s[i][3][l]) + bk[l];
                            if (sum) v += o[l];
                            o[l] = relu && v < 0.0f ? 0.0f : v;
                        }
                    }
                }
            }
    }
}

static void winob_8(const float *U, const float *bias, const float *src, int ni, int C, int H, int W, int K,
                    float *dst, int sum, int relu, int ty0, int ty1, float *V) {
    wb_item(U, bias, src, ni, C, H, W, K, dst, sum, relu, ty0, ty1, V, 8);
}

static void winob_16(const float *U, const float *bias, const float *src, int ni, int C, int H, int W, int K,
                     float *dst, int sum, int relu, int ty0, int ty1, float *V) {
    wb_item(U, bias, src, ni, C, H, W, K, dst, sum, relu, ty0, ty1, V, 16);
}

void winob_conv3x3(const float *U, const float *bias, const float *src, int n, int C, int H, int W, int K,
                   float *dst, int sum, int relu, int bs, float *const *scratch, int threads) {
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    int rows = wb_rows(tw, th);
    const int per_image = (threads + n - 1) / n; /* chunks an image needs for every thread to work */
    if (per_image > 1) {
        const int r = (th + per_image - 1) / per_image;
        if (r < rows) rows = r > 0 ? r : 1;
    }
    const int chunks = (th + rows - 1) / rows;
    const int items = n * chunks;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && items > 1)
    for (int it = 0; it < items; it++) {
        const int ni = it / chunks, ch = it % chunks;
        const int ty0 = ch * rows, ty1 = ty0 + rows < th ? ty0 + rows : th;
        float *V = scratch[omp_get_thread_num()];
        if (bs == 16)
            winob_16(U, bias, src, ni, C, H, W, K, dst, sum, relu, ty0, ty1, V);
        else
            winob_8(U, bias, src, ni, C, H, W, K, dst, sum, relu, ty0, ty1, V);
    }
}
