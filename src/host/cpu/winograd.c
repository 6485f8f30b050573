/*
 * winograd.c - F(2x2, 3x3) convolution (see winograd.h).
 *
 * Work is cut into chunks of whole tile rows (WINO_TILES tiles or a little more); each
 * chunk is transformed into a per-thread V (16, C, Tc), multiplied into M (16, K, Tc) by
 * 16 cblas_sgemm calls, and transformed back into the output with the bias, the shortcut
 * and the ReLU while M is still in cache. Chunks are split across OpenMP threads;
 * OpenBLAS runs single-threaded inside (the caller's cpu_blas_single_begin).
 * Partial tiles (odd H or W) read zeros past the input's edge and write only the outputs
 * that exist.
 */
#include "winograd.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Tiles per chunk: GEMMs of N = 256 columns run near OpenBLAS's peak for K, C >= 64, and
 * V + M of a chunk stay within L2/L3 (16 * (64 + 64) * 256 * 4 B = 2 MiB for layer1). */
#define WINO_TILES 256

void wino_filter_tile(const float *g, float u[16]) {
    double t[4][3]; /* G g */
    for (int j = 0; j < 3; j++) {
        const double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        t[0][j] = g0;
        t[1][j] = 0.5 * (g0 + g1 + g2);
        t[2][j] = 0.5 * (g0 - g1 + g2);
        t[3][j] = g2;
    }
    for (int i = 0; i < 4; i++) { /* (G g) G^T */
        const double a = t[i][0], b = t[i][1], c = t[i][2];
        u[i * 4 + 0] = (float)a;
        u[i * 4 + 1] = (float)(0.5 * (a + b + c));
        u[i * 4 + 2] = (float)(0.5 * (a - b + c));
        u[i * 4 + 3] = (float)c;
    }
}

padim_status wino_filters(const float *w, int K, int C, float **U) {
    PADIM_TRY(padim_alloc_aligned((void **)U, sizeof(float) * 16 * (size_t)K * (size_t)C, "Winograd filters"));
    const size_t KC = (size_t)K * (size_t)C;
    for (size_t kc = 0; kc < KC; kc++) {
        float u[16];
        wino_filter_tile(w + kc * 9, u);
        for (int xi = 0; xi < 16; xi++) (*U)[(size_t)xi * KC + kc] = u[xi];
    }
    return PADIM_OK;
}

static int tile_rows_per_chunk(int tw) {
    int r = WINO_TILES / tw;
    return r < 1 ? 1 : r;
}

int64_t wino_scratch_floats(int C, int K, int H, int W, int threads) {
    (void)threads;
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    int rows = tile_rows_per_chunk(tw);
    if (rows > th) rows = th;
    return 16 * (wino_xi_stride((int64_t)C * rows * tw) + wino_xi_stride((int64_t)K * rows * tw));
}

/* V (16, C, Tc) of tile rows [ty0, ty1) of x (C, H, W). */
static void input_transform(const float *x, int C, int H, int W, int ty0, int ty1, int tw, float *V) {
    const int64_t Tc = (int64_t)(ty1 - ty0) * tw, CT = wino_xi_stride((int64_t)C * Tc);
    for (int c = 0; c < C; c++) {
        const float *xc = x + (int64_t)c * H * W;
        float *vc = V + (int64_t)c * Tc;
        for (int ty = ty0; ty < ty1; ty++) {
            const int y0 = 2 * ty - 1;
            const int interior_y = y0 >= 0 && y0 + 3 < H;
            for (int tx = 0; tx < tw; tx++) {
                const int x0 = 2 * tx - 1;
                float d[4][4];
                if (interior_y && x0 >= 0 && x0 + 3 < W) {
                    for (int i = 0; i < 4; i++) {
                        const float *r = xc + (int64_t)(y0 + i) * W + x0;
                        d[i][0] = r[0], d[i][1] = r[1], d[i][2] = r[2], d[i][3] = r[3];
                    }
                } else {
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            const int yy = y0 + i, xx = x0 + j;
                            d[i][j] = yy >= 0 && yy < H && xx >= 0 && xx < W ? xc[(int64_t)yy * W + xx] : 0.0f;
                        }
                }
                float t[4][4]; /* B^T d */
                for (int j = 0; j < 4; j++) {
                    t[0][j] = d[0][j] - d[2][j];
                    t[1][j] = d[1][j] + d[2][j];
                    t[2][j] = d[2][j] - d[1][j];
                    t[3][j] = d[1][j] - d[3][j];
                }
                const int64_t o = (int64_t)(ty - ty0) * tw + tx;
                for (int i = 0; i < 4; i++) { /* (B^T d) B */
                    float *v = vc + (int64_t)(i * 4) * CT + o;
                    v[0] = t[i][0] - t[i][2];
                    v[CT] = t[i][1] + t[i][2];
                    v[2 * CT] = t[i][2] - t[i][1];
                    v[3 * CT] = t[i][1] - t[i][3];
                }
            }
        }
    }
}

/* out rows of tile rows [ty0, ty1) from M (16, K, Tc): A^T M A + bias (+ res), ReLU. */
static void output_transform(const float *M, int K, int H, int W, int ty0, int ty1, int tw, const float *bias,
                             float *out, const float *res, int accumulate, int relu) {
    const int64_t Tc = (int64_t)(ty1 - ty0) * tw, KT = wino_xi_stride((int64_t)K * Tc);
    for (int k = 0; k < K; k++) {
        const float *mk = M + (int64_t)k * Tc;
        float *ok = out + (int64_t)k * H * W;
        const float *rk = res ? res + (int64_t)k * H * W : NULL;
        const float b = bias[k];
        for (int ty = ty0; ty < ty1; ty++)
            for (int tx = 0; tx < tw; tx++) {
                const int64_t o = (int64_t)(ty - ty0) * tw + tx;
                float m[4][4];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) m[i][j] = mk[(int64_t)(i * 4 + j) * KT + o];
                float s[2][4]; /* A^T m */
                for (int j = 0; j < 4; j++) {
                    s[0][j] = m[0][j] + m[1][j] + m[2][j];
                    s[1][j] = m[1][j] - m[2][j] - m[3][j];
                }
                for (int i = 0; i < 2; i++) {
                    const int y = 2 * ty + i;
                    if (y >= H) break;
                    const float yv[2] = {s[i][0] + s[i][1] + s[i][2], s[i][1] - s[i][2] - s[i][3]};
                    for (int j = 0; j < 2; j++) {
                        const int xx = 2 * tx + j;
                        if (xx >= W) break;
                        const int64_t p = (int64_t)y * W + xx;
                        float v = yv[j] + b;
                        if (accumulate) v += ok[p];
                        if (rk) v += rk[p];
                        ok[p] = relu && v < 0.0f ? 0.0f : v;
                    }
                }
            }
    }
}

void wino_conv3x3(const float *U, const float *bias, const float *x, int C, int H, int W, int K, float *out,
                  const float *res, int accumulate, int relu, float *const *scratch, int threads) {
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    int rows = tile_rows_per_chunk(tw);
    if (rows > th) rows = th;
    int nchunks = (th + rows - 1) / rows;
    if (threads > 1 && nchunks < threads && th >= threads) { /* every thread gets work */
        rows = (th + threads - 1) / threads;
        nchunks = (th + rows - 1) / rows;
    }
    const int64_t KC = (int64_t)K * C;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int ch = 0; ch < nchunks; ch++) {
        const int ty0 = ch * rows, ty1 = ty0 + rows < th ? ty0 + rows : th;
        const int Tc = (ty1 - ty0) * tw;
        const int64_t vs = wino_xi_stride((int64_t)C * Tc), ms = wino_xi_stride((int64_t)K * Tc);
        float *V = scratch[omp_get_thread_num()];
        float *M = V + 16 * vs;
        input_transform(x, C, H, W, ty0, ty1, tw, V);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, Tc, C, 1.0f, U + xi * KC, C, V + xi * vs, Tc,
                        0.0f, M + xi * ms, Tc);
        output_transform(M, K, H, W, ty0, ty1, tw, bias, out, res, accumulate, relu);
    }
}
