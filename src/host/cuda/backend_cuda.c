/*
 * backend_cuda.c - the CUDA backend: backend.h's table on one NVIDIA GPU.
 *
 *   backbone     cuDNN legacy API, NCHW float32: conv + folded-BN bias + (residual) + ReLU
 *                fused in cudnnConvolutionBiasActivationForward where it applies, else
 *                cudnnConvolutionForward + cudnnAddTensor (+ cudnnActivationForward);
 *                max pool with cudnnPoolingForward. Algorithms are chosen per batch size
 *                with cudnnGetConvolutionForwardAlgorithm_v7 and cached; one workspace,
 *                sized at create for the largest batch.
 *                --precision fp16 / bf16: the same program with every backbone tensor
 *                (input, weights, biases, activations) in half / bfloat16 and the
 *                convolutions computing in float32 (cuDNN's PSEUDO_HALF / PSEUDO_BFLOAT16
 *                configurations, tensor-op math). The fp32 input batch is converted on the
 *                device (src/kernels/convert.cu), the weights once at create; layer1..3
 *                are converted back to float32 buffers for the embedding, so everything
 *                from the embedding on is float32 exactly as in fp32 mode.
 *   embedding    padim_k_embed (src/kernels/embed.cu) -> (N, P, D).
 *   fit          streaming statistics, memory independent of the number of images:
 *                  shift = the first image's embedding (P, D);
 *                  per batch  X_c = X - shift (in place) and s1 += sum_n X_c  (float64);
 *                             G_p = X_c,p X_c,p^T by cublasSgemmStridedBatched over a
 *                             chunk of positions (X_p is D x N column-major with leading
 *                             dimension P*D in the (N, P, D) layout; strideA = D), in
 *                             float32 over the <= batch images of one batch, then added
 *                             to s2 (P, T) packed float64.
 *                So sums within a batch are float32 of centred values (a few dozen terms)
 *                and everything across batches is float64: the same s1/s2 arrays as the
 *                CPU twin op_stats_accumulate_cpu, at the memory of the packed float64
 *                triangle (WRN50 @256: 4.96 GB) plus one gram chunk.
 *   finalize     per chunk of positions: cov = (s2 - s1 s1^T / n) / (n - 1) + eps I
 *                (float64), batched Cholesky cusolverDn{D,S}potrfBatched (lower), per
 *                matrix info copied back (failure -> PADIM_ERR_NUMERIC naming the
 *                position), L^-1 by cublas{D,S}trsmBatched against the identity, packed
 *                to float (P, T) and copied to the host. float64 by default (as the CPU
 *                twin's LAPACK dpotrf); PADIM_CUDA_FACTOR=fp32 selects Spotrf/Strsm.
 *   score        padim_k_mahalanobis (fused, packed factor) -> dist (N, P);
 *                padim_k_upsample_bilinear, padim_k_gaussian_blur, padim_k_map_max.
 *
 * Memory: create() allocates everything that scales with the batch; if the device cannot
 * hold max_batch images the internal batch halves until it fits, and fit_batch /
 * score_batch go through their images in internal batches (the caller sees no
 * difference). fit_begin / set_stats allocate the model-sized arrays once (shrinking the
 * internal batch again if needed). The per-batch calls allocate nothing.
 * Environment switches (for tests and benchmarks): PADIM_CUDA_FACTOR=fp32,
 * PADIM_CUDA_UNFUSED=1 (never use the fused cuDNN call).
 */
#include "backend.h"
#include "common.h"
#include "cuda_check.h"
#include "kernels.h"
#include "cpu/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ errors */

const char *padim_gpu_error_name(int lib, int code) {
    switch (lib) {
    case PADIM_LIB_CUDA: return cudaGetErrorName((cudaError_t)code);
    case PADIM_LIB_CUBLAS: return cublasGetStatusName((cublasStatus_t)code);
    case PADIM_LIB_CUDNN: return cudnnGetErrorString((cudnnStatus_t)code);
    case PADIM_LIB_CUSOLVER:
        switch ((cusolverStatus_t)code) {
        case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
        case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
        case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
        case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
        case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
        case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
        case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
        case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
        default: return "CUSOLVER_STATUS_(other)";
        }
    }
    return "unknown library";
}

static const char *gpu_error_message(int lib, int code) {
    switch (lib) {
    case PADIM_LIB_CUDA: return cudaGetErrorString((cudaError_t)code);
    case PADIM_LIB_CUBLAS: return cublasGetStatusString((cublasStatus_t)code);
    default: return "";
    }
}

padim_status padim_gpu_fail(int lib, int code, const char *expr, const char *func,
                            const char *file, int line) {
    static const char *const libs[] = {"CUDA", "cuBLAS", "cuSOLVER", "cuDNN"};
    const int oom = (lib == PADIM_LIB_CUDA && code == (int)cudaErrorMemoryAllocation) ||
                    (lib == PADIM_LIB_CUBLAS && code == (int)CUBLAS_STATUS_ALLOC_FAILED) ||
                    (lib == PADIM_LIB_CUSOLVER && code == (int)CUSOLVER_STATUS_ALLOC_FAILED) ||
                    (lib == PADIM_LIB_CUDNN && code == (int)CUDNN_STATUS_ALLOC_FAILED);
    if (lib == PADIM_LIB_CUDA) (void)cudaGetLastError(); /* clear a non-sticky error */
    const char *msg = gpu_error_message(lib, code);
    return padim_fail(oom ? PADIM_ERR_NOMEM : PADIM_ERR_DEVICE,
                      "%s error %s (%d)%s%s in %s at %s:%d: %s%s", libs[lib],
                      padim_gpu_error_name(lib, code), code, msg[0] ? ": " : "", msg, func, file,
                      line, expr, oom ? " (out of device memory: try a smaller --batch)" : "");
}

/* ------------------------------------------------------------------ context */

enum { BUF_X, BUF_R0, BUF_R1, BUF_T1, BUF_T2, BUF_T3, BUF_L1, BUF_L2, BUF_L3, BUF_COUNT };

#define MAX_STEPS (BB_MAX_CONVS + 1)
#define ALGO_CACHE 8
#define GRAM_BUDGET ((size_t)256 << 20)     /* bytes of (np, D, D) float grams per chunk */
#define FINALIZE_BUDGET ((size_t)512 << 20) /* bytes of cov + identity per chunk */
#define WORKSPACE_CAP ((size_t)1 << 30)     /* largest cuDNN workspace one conv may take */

/* One step of the backbone program: a convolution of spec.convs (or the max pool),
 * from buffer `in` to `out`, plus buffer z (residual, -1 none), then ReLU when relu. */
typedef struct fwd_step {
    int conv; /* -1: max pool */
    int in, out, z, relu;
    int cin, hin, cout, hout;
    cudnnTensorDescriptor_t xdesc, ydesc; /* (n, cin, hin, hin), (n, cout, hout, hout) */
} fwd_step;

typedef struct algo_entry {
    int n; /* batch size the entry is for; 0 = empty */
    cudnnConvolutionFwdAlgo_t algo[MAX_STEPS];
    cudnnMathType_t math[MAX_STEPS];
} algo_entry;

typedef struct cuda_ctx {
    backend_setup setup;
    bb_spec spec;
    int dev;
    char desc[320];
    int S, H, W, P, D, h2, h3;
    int64_t T;
    int max_batch; /* what the caller may pass */
    int B;         /* internal batch the buffers hold (<= max_batch) */
    cudnnMathType_t math; /* CUDNN_FMA_MATH (exact fp32) or CUDNN_TENSOR_OP_MATH (tf32,
                             fp16, bf16) */
    cudnnDataType_t dt;   /* backbone tensors: FLOAT, HALF or BFLOAT16 */
    size_t elem;          /* bytes per backbone element: 4 or 2 */
    int unfused;
    int factor_fp64;

    cudaStream_t stream;
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    cudnnHandle_t dnn;
    cudnnActivationDescriptor_t relu;
    cudnnPoolingDescriptor_t pool;

    /* backbone */
    cudnnFilterDescriptor_t wdesc[BB_MAX_CONVS];
    cudnnConvolutionDescriptor_t cdesc[BB_MAX_CONVS];
    cudnnTensorDescriptor_t bdesc[BB_MAX_CONVS]; /* (1, cout, 1, 1) */
    void *w[BB_MAX_CONVS], *b[BB_MAX_CONVS];     /* device weights, biases (type dt) */
    fwd_step steps[MAX_STEPS];
    int n_steps;
    int64_t buf_per_image[BUF_COUNT]; /* elements per image each buffer must hold */
    int conv_unfused[MAX_STEPS];      /* fused call reported NOT_SUPPORTED */
    int desc_n;                       /* batch size the step descriptors are set for */
    algo_entry algos[ALGO_CACHE];
    int algo_next;
    const algo_entry *cur_algo;

    /* batch buffers (B images) */
    void *buf[BUF_COUNT]; /* type dt: BUF_X (B, 3, S, S); others per buf_per_image */
    /* fp16/bf16 only (NULL in fp32/tf32, where buf[] is float32 and used directly): */
    float *x32;           /* (B, 3, S, S) float32 input batch, converted into buf[BUF_X] */
    float *feat32[3];     /* layer1..3 outputs converted to float32 for the embedding */
    void *ws;
    size_t ws_bytes;
    int32_t *idx;  /* (D) */
    float *emb;    /* (B, P, D) */
    float *dist;   /* (B, P) */
    float *maps;   /* (B, S, S) */
    float *tmp;    /* (B, S, S) blur scratch */
    float *scores; /* (B) */
    float *gw;     /* (2 radius + 1) Gaussian weights */
    int radius;

    /* fit */
    int64_t n_seen;
    float *shift; /* (P, D) */
    double *s1;   /* (P, D) */
    double *s2;   /* (P, T) */
    float *gram;  /* (gram_np, D, D) */
    int gram_np;
    padim_cuda_finalize_ws fin;

    /* score */
    float *mean;   /* (P, D) */
    float *factor; /* (P, T) */
    int has_stats;

    /* stage timing (setup.rt->times) and device memory high-water mark */
    size_t free_at_start; /* cudaMemGetInfo free bytes before the backend allocated */
    double peak_used;     /* max over marks of free_at_start - free now */
} cuda_ctx;

/* Stage boundary: when the caller asked for stage times, wait for the stream and add the
 * seconds since *t to *counter (a sync per stage costs a little throughput; without
 * times nothing is synchronized). Also records the device memory high-water mark. */
static padim_stage_times *stage_times(const cuda_ctx *c) { return c->setup.rt ? c->setup.rt->times : NULL; }
static padim_status stage_mark(cuda_ctx *c, double *t, double *counter) {
    padim_stage_times *tm = stage_times(c);
    if (!tm) return PADIM_OK;
    GPU_CHECK(cudaStreamSynchronize(c->stream));
    const double now = padim_now();
    *counter += now - *t;
    *t = now;
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && c->free_at_start > free_b) {
        const double used = (double)(c->free_at_start - free_b);
        if (used > c->peak_used) c->peak_used = used;
        if (used > tm->device_peak_bytes) tm->device_peak_bytes = used;
    }
    return PADIM_OK;
}

static padim_status dev_alloc(void **p, size_t bytes, const char *what) {
    *p = NULL;
    const cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaSuccess) return PADIM_OK;
    *p = NULL;
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    return padim_fail(e == cudaErrorMemoryAllocation ? PADIM_ERR_NOMEM : PADIM_ERR_DEVICE,
                      "cannot allocate %.1f MiB of device memory for %s (%s; %.1f of %.1f MiB "
                      "free): try a smaller --batch",
                      (double)bytes / 1048576.0, what, cudaGetErrorName(e),
                      (double)free_b / 1048576.0, (double)total_b / 1048576.0);
}

static void dev_free(void *pp) {
    void **p = pp;
    if (*p) cudaFree(*p);
    *p = NULL;
}

static void free_batch_buffers(cuda_ctx *c) {
    for (int i = 0; i < BUF_COUNT; i++) dev_free(&c->buf[i]);
    dev_free(&c->x32);
    for (int l = 0; l < 3; l++) dev_free(&c->feat32[l]);
    dev_free(&c->ws);
    dev_free(&c->emb);
    dev_free(&c->dist);
    dev_free(&c->maps);
    dev_free(&c->tmp);
    dev_free(&c->scores);
    c->ws_bytes = 0;
    c->B = 0;
    /* the algorithms were chosen against the old workspace */
    memset(c->algos, 0, sizeof(c->algos));
    c->algo_next = 0;
    c->desc_n = 0;
    c->cur_algo = NULL;
}

static void free_fit_buffers(cuda_ctx *c) {
    dev_free(&c->shift);
    dev_free(&c->s1);
    dev_free(&c->s2);
    dev_free(&c->gram);
    padim_cuda_finalize_ws_free(&c->fin);
}

static void cuda_destroy(void *p) {
    cuda_ctx *c = p;
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    free_batch_buffers(c);
    free_fit_buffers(c);
    dev_free(&c->mean);
    dev_free(&c->factor);
    dev_free(&c->idx);
    dev_free(&c->gw);
    for (int i = 0; i < BB_MAX_CONVS; i++) {
        dev_free(&c->w[i]);
        dev_free(&c->b[i]);
        if (c->wdesc[i]) cudnnDestroyFilterDescriptor(c->wdesc[i]);
        if (c->cdesc[i]) cudnnDestroyConvolutionDescriptor(c->cdesc[i]);
        if (c->bdesc[i]) cudnnDestroyTensorDescriptor(c->bdesc[i]);
    }
    for (int i = 0; i < MAX_STEPS; i++) {
        if (c->steps[i].xdesc) cudnnDestroyTensorDescriptor(c->steps[i].xdesc);
        if (c->steps[i].ydesc) cudnnDestroyTensorDescriptor(c->steps[i].ydesc);
    }
    if (c->relu) cudnnDestroyActivationDescriptor(c->relu);
    if (c->pool) cudnnDestroyPoolingDescriptor(c->pool);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->solver) cusolverDnDestroy(c->solver);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

/* ------------------------------------------------------------------ backbone program */

static int conv_out_side(int h, const bb_conv_spec *cv) {
    return (h + 2 * cv->pad - cv->k) / cv->stride + 1;
}

static void add_step(cuda_ctx *c, int conv, int in, int out, int z, int relu, int cin, int hin,
                     int cout, int hout) {
    PADIM_ASSERT(c->n_steps < MAX_STEPS);
    fwd_step *s = &c->steps[c->n_steps++];
    s->conv = conv;
    s->in = in;
    s->out = out;
    s->z = z;
    s->relu = relu;
    s->cin = cin;
    s->hin = hin;
    s->cout = cout;
    s->hout = hout;
    const int64_t need = (int64_t)cout * hout * hout;
    if (need > c->buf_per_image[out]) c->buf_per_image[out] = need;
}

/* Translate the spec into steps over the buffers: conv1 -> T1, pool -> R0, then per block
 * a -> T1 (ReLU), [b -> T2 (ReLU)], [downsample -> T3], last conv + shortcut + ReLU ->
 * the other R buffer, or L1/L2/L3 for the last block of a layer. */
static void build_program(cuda_ctx *c) {
    const bb_spec *sp = &c->spec;
    c->n_steps = 0;
    memset(c->buf_per_image, 0, sizeof(c->buf_per_image));
    c->buf_per_image[BUF_X] = (int64_t)3 * c->S * c->S;
    const bb_conv_spec *c1 = &sp->convs[0];
    int h = conv_out_side(c->S, c1);
    add_step(c, 0, BUF_X, BUF_T1, -1, 1, 3, c->S, c1->cout, h);
    const int hp = (h + 2 - 3) / 2 + 1; /* max pool 3x3/2 pad 1 */
    add_step(c, -1, BUF_T1, BUF_R0, -1, 0, c1->cout, h, c1->cout, hp);
    int cur = BUF_R0, curc = c1->cout, curh = hp;
    for (int layer = 0; layer < 3; layer++) {
        for (int bi = 0; bi < sp->n_blocks[layer]; bi++) {
            const bb_block *blk = &sp->blocks[layer][bi];
            const bb_conv_spec *a = &sp->convs[blk->a], *b = &sp->convs[blk->b];
            const int ha = conv_out_side(curh, a);
            add_step(c, blk->a, cur, BUF_T1, -1, 1, curc, curh, a->cout, ha);
            const int hb = conv_out_side(ha, b);
            int last = blk->b, last_in = BUF_T1, last_cin = a->cout, last_hin = ha;
            int hout = hb, cout = b->cout;
            if (blk->c >= 0) {
                add_step(c, blk->b, BUF_T1, BUF_T2, -1, 1, a->cout, ha, b->cout, hb);
                const bb_conv_spec *cc = &sp->convs[blk->c];
                last = blk->c;
                last_in = BUF_T2;
                last_cin = b->cout;
                last_hin = hb;
                hout = conv_out_side(hb, cc);
                cout = cc->cout;
            }
            int z = cur;
            if (blk->down >= 0) {
                const bb_conv_spec *dn = &sp->convs[blk->down];
                add_step(c, blk->down, cur, BUF_T3, -1, 0, curc, curh, dn->cout,
                         conv_out_side(curh, dn));
                z = BUF_T3;
            }
            const int out = bi == sp->n_blocks[layer] - 1 ? BUF_L1 + layer
                            : cur == BUF_R0                ? BUF_R1
                                                           : BUF_R0;
            add_step(c, last, last_in, out, z, 1, last_cin, last_hin, cout, hout);
            cur = out;
            curc = cout;
            curh = hout;
        }
    }
}

/* Set every step's tensor descriptors for batch n (host-only calls). */
static padim_status set_descriptors(cuda_ctx *c, int n) {
    if (c->desc_n == n) return PADIM_OK;
    for (int i = 0; i < c->n_steps; i++) {
        fwd_step *s = &c->steps[i];
        GPU_CHECK(cudnnSetTensor4dDescriptor(s->xdesc, CUDNN_TENSOR_NCHW, c->dt, n, s->cin,
                                             s->hin, s->hin));
        GPU_CHECK(cudnnSetTensor4dDescriptor(s->ydesc, CUDNN_TENSOR_NCHW, c->dt, n, s->cout,
                                             s->hout, s->hout));
    }
    c->desc_n = n;
    return PADIM_OK;
}

/* Choose the algorithm of every conv step for the batch the descriptors are set for: the
 * fastest by cuDNN's heuristics whose workspace fits ws_limit, in the requested math
 * (exact fp32 refuses tensor-op entries; their math type is then pinned to FMA). Falls
 * back to IMPLICIT_GEMM (no workspace). ws_need: the largest workspace chosen. */
static padim_status choose_algos(cuda_ctx *c, algo_entry *e, size_t ws_limit, size_t *ws_need) {
    *ws_need = 0;
    for (int i = 0; i < c->n_steps; i++) {
        const fwd_step *s = &c->steps[i];
        if (s->conv < 0) continue;
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int returned = 0;
        GPU_CHECK(cudnnSetConvolutionMathType(c->cdesc[s->conv], c->math));
        GPU_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
            c->dnn, s->xdesc, c->wdesc[s->conv], c->cdesc[s->conv], s->ydesc,
            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
        e->algo[i] = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        e->math[i] = c->math;
        size_t mem = 0;
        for (int r = 0; r < returned; r++) {
            if (perf[r].status != CUDNN_STATUS_SUCCESS || perf[r].memory > ws_limit) continue;
            const int tensor_op = perf[r].mathType == CUDNN_TENSOR_OP_MATH ||
                                  perf[r].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
            if (c->math == CUDNN_FMA_MATH && tensor_op) continue;
            if (perf[r].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
            e->algo[i] = perf[r].algo;
            e->math[i] = c->math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : perf[r].mathType;
            mem = perf[r].memory;
            break;
        }
        /* The heuristic's memory is an estimate: ask for the exact size. */
        GPU_CHECK(cudnnSetConvolutionMathType(c->cdesc[s->conv], e->math[i]));
        size_t exact = 0;
        GPU_CHECK(cudnnGetConvolutionForwardWorkspaceSize(c->dnn, s->xdesc, c->wdesc[s->conv],
                                                          c->cdesc[s->conv], s->ydesc,
                                                          e->algo[i], &exact));
        if (exact > mem) mem = exact;
        if (mem > ws_limit) { /* estimate was low: the no-workspace algorithm */
            e->algo[i] = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
            mem = 0;
        }
        if (mem > *ws_need) *ws_need = mem;
    }
    return PADIM_OK;
}

/* Descriptors and cached algorithms for batch n. */
static padim_status prepare_batch(cuda_ctx *c, int n) {
    PADIM_TRY(set_descriptors(c, n));
    if (c->cur_algo && c->cur_algo->n == n) return PADIM_OK;
    for (int i = 0; i < ALGO_CACHE; i++)
        if (c->algos[i].n == n) {
            c->cur_algo = &c->algos[i];
            return PADIM_OK;
        }
    algo_entry *e = &c->algos[c->algo_next];
    c->algo_next = (c->algo_next + 1) % ALGO_CACHE;
    size_t need = 0;
    e->n = 0;
    PADIM_TRY(choose_algos(c, e, c->ws_bytes, &need));
    e->n = n;
    c->cur_algo = e;
    return PADIM_OK;
}

/* y = act(conv(x) + bias [+ z]): the fused cuDNN call when the step ends in ReLU (the
 * identity activation would restrict the algorithm), else convolution, bias and residual
 * as separate calls. x, y, z, bias and weights are all of type dt (bias included: cuDNN
 * wants it in y's type outside the int8 configurations); the scaling factors are float
 * for every type but double. */
static padim_status run_conv_step(cuda_ctx *c, int i) {
    const fwd_step *s = &c->steps[i];
    const int k = s->conv;
    const float one = 1.0f, zero = 0.0f;
    const void *x = c->buf[s->in];
    void *y = c->buf[s->out];
    const void *z = s->z >= 0 ? c->buf[s->z] : NULL;
    const cudnnConvolutionFwdAlgo_t algo = c->cur_algo->algo[i];
    GPU_CHECK(cudnnSetConvolutionMathType(c->cdesc[k], c->cur_algo->math[i]));
    if (s->relu && !c->unfused && !c->conv_unfused[i]) {
        const float alpha2 = z ? 1.0f : 0.0f;
        const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
            c->dnn, &one, s->xdesc, x, c->wdesc[k], c->w[k], c->cdesc[k], algo, c->ws,
            c->ws_bytes, &alpha2, s->ydesc, z ? z : y, c->bdesc[k], c->b[k], c->relu, s->ydesc,
            y);
        if (st == CUDNN_STATUS_SUCCESS) return PADIM_OK;
        /* cuDNN 9 reports unsupported configurations as 3000 + a sub-code
         * (CUDNN_STATUS_NOT_SUPPORTED_SHAPE, ..._DATA_TYPE, ...): compare the category.
         * BAD_PARAM is also taken as "no fused variant": the no-residual call passes z = y
         * with alpha2 = 0, an aliasing some cuDNN versions may refuse; the split path below
         * is always legal. Anything else is a real failure. */
        const cudnnStatus_t cat = CUDNN_STATUS_CATEGORY(st);
        if (cat != CUDNN_STATUS_NOT_SUPPORTED && cat != CUDNN_STATUS_BAD_PARAM) GPU_CHECK(st);
        if (c->setup.rt && c->setup.rt->verbose)
            fprintf(stderr, "padim-gpu: cuDNN fused conv+bias+ReLU refused for step %d (%s); using separate calls\n",
                    i, cudnnGetErrorString(st));
        c->conv_unfused[i] = 1; /* this algorithm has no fused variant: split from now on */
    }
    GPU_CHECK(cudnnConvolutionForward(c->dnn, &one, s->xdesc, x, c->wdesc[k], c->w[k],
                                      c->cdesc[k], algo, c->ws, c->ws_bytes, &zero, s->ydesc, y));
    GPU_CHECK(cudnnAddTensor(c->dnn, &one, c->bdesc[k], c->b[k], &one, s->ydesc, y));
    if (z) GPU_CHECK(cudnnAddTensor(c->dnn, &one, s->ydesc, z, &one, s->ydesc, y));
    if (s->relu)
        GPU_CHECK(cudnnActivationForward(c->dnn, c->relu, &one, s->ydesc, y, &zero, s->ydesc, y));
    return PADIM_OK;
}

/* float32 (n) -> the reduced backbone type dt (HALF or BFLOAT16), on the stream. */
static cudaError_t to_reduced(const cuda_ctx *c, const float *in, int64_t n, void *out) {
    return c->dt == CUDNN_DATA_HALF ? padim_k_f32_to_f16(in, n, out, c->stream)
                                    : padim_k_f32_to_bf16(in, n, out, c->stream);
}

static cudaError_t from_reduced(const cuda_ctx *c, const void *in, int64_t n, float *out) {
    return c->dt == CUDNN_DATA_HALF ? padim_k_f16_to_f32(in, n, out, c->stream)
                                    : padim_k_bf16_to_f32(in, n, out, c->stream);
}

static int reduced(const cuda_ctx *c) { return c->dt != CUDNN_DATA_FLOAT; }

/* x (n, 3, S, S) host -> embedding c->emb (n, P, D) on the device. */
static padim_status forward_embed(cuda_ctx *c, const float *x, int n) {
    PADIM_ASSERT(n >= 1 && n <= c->B);
    const int64_t nx = (int64_t)n * 3 * c->S * c->S;
    float *x32 = reduced(c) ? c->x32 : (float *)c->buf[BUF_X];
    GPU_CHECK(cudaMemcpyAsync(x32, x, (size_t)nx * sizeof(float), cudaMemcpyHostToDevice,
                              c->stream));
    PADIM_TRY(prepare_batch(c, n));
    padim_stage_times *tm = stage_times(c);
    double t = padim_now();
    if (reduced(c)) GPU_CHECK(to_reduced(c, x32, nx, c->buf[BUF_X]));
    const float one = 1.0f, zero = 0.0f;
    for (int i = 0; i < c->n_steps; i++) {
        const fwd_step *s = &c->steps[i];
        if (s->conv < 0)
            GPU_CHECK(cudnnPoolingForward(c->dnn, c->pool, &one, s->xdesc, c->buf[s->in], &zero,
                                          s->ydesc, c->buf[s->out]));
        else
            PADIM_TRY(run_conv_step(c, i));
    }
    const float *feat[3];
    for (int l = 0; l < 3; l++) {
        if (reduced(c)) {
            GPU_CHECK(from_reduced(c, c->buf[BUF_L1 + l], n * c->buf_per_image[BUF_L1 + l],
                                   c->feat32[l]));
            feat[l] = c->feat32[l];
        } else {
            feat[l] = c->buf[BUF_L1 + l];
        }
    }
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->backbone));
    const bb_spec *sp = &c->spec;
    GPU_CHECK(padim_k_embed(feat[0], feat[1], feat[2], n, sp->channels[0], sp->channels[1],
                            sp->channels[2], c->H, c->W, c->h2, c->h2, c->h3, c->h3, c->idx,
                            c->D, c->emb, c->stream));
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->embed));
    return PADIM_OK;
}

/* ------------------------------------------------------------------ allocation */

static padim_status alloc_batch_buffers(cuda_ctx *c, int B) {
    static const char *const names[BUF_COUNT] = {
        "input batch", "block outputs", "block outputs", "conv scratch", "conv scratch",
        "shortcut", "layer1 features", "layer2 features", "layer3 features"};
    c->B = B;
    for (int i = 0; i < BUF_COUNT; i++) {
        const size_t bytes = (size_t)B * c->buf_per_image[i] * c->elem;
        PADIM_TRY(dev_alloc(&c->buf[i], bytes, names[i]));
        /* Zeroed once: the fused call without a residual passes y itself as z with
         * alpha2 = 0, and 0 * (uninitialised NaN) would be NaN (all-zero bits are 0.0 in
         * half and bfloat16 too). */
        GPU_CHECK(cudaMemsetAsync(c->buf[i], 0, bytes, c->stream));
    }
    if (reduced(c)) {
        PADIM_TRY(dev_alloc((void **)&c->x32, (size_t)B * c->buf_per_image[BUF_X] * sizeof(float),
                            "input batch (float32)"));
        for (int l = 0; l < 3; l++)
            PADIM_TRY(dev_alloc((void **)&c->feat32[l],
                                (size_t)B * c->buf_per_image[BUF_L1 + l] * sizeof(float),
                                names[BUF_L1 + l]));
    }
    const size_t PD = (size_t)c->P * c->D, SS = (size_t)c->S * c->S;
    PADIM_TRY(dev_alloc((void **)&c->emb, (size_t)B * PD * sizeof(float), "embeddings"));
    PADIM_TRY(dev_alloc((void **)&c->dist, (size_t)B * c->P * sizeof(float), "distances"));
    PADIM_TRY(dev_alloc((void **)&c->maps, (size_t)B * SS * sizeof(float), "anomaly maps"));
    PADIM_TRY(dev_alloc((void **)&c->tmp, (size_t)B * SS * sizeof(float), "blur scratch"));
    PADIM_TRY(dev_alloc((void **)&c->scores, (size_t)B * sizeof(float), "scores"));
    /* Workspace: the largest any conv's preferred algorithm wants at batch B. */
    PADIM_TRY(set_descriptors(c, B));
    algo_entry *e = &c->algos[0];
    size_t need = 0;
    PADIM_TRY(choose_algos(c, e, WORKSPACE_CAP, &need));
    if (need > 0) PADIM_TRY(dev_alloc(&c->ws, need, "cuDNN workspace"));
    c->ws_bytes = need;
    e->n = B;
    c->algo_next = 1;
    c->cur_algo = e;
    return PADIM_OK;
}

/* Allocate the batch buffers for the largest batch that fits, halving from `from`. */
static padim_status alloc_batch_adaptive(cuda_ctx *c, int from) {
    for (int B = from;; B = (B + 1) / 2) {
        free_batch_buffers(c);
        const padim_status st = alloc_batch_buffers(c, B);
        if (st == PADIM_OK) {
            if (B < c->max_batch && c->setup.rt && c->setup.rt->verbose)
                fprintf(stderr, "padim-gpu: cuda: device memory holds batches of %d images "
                        "(asked %d); batches are split\n", B, c->max_batch);
            return PADIM_OK;
        }
        if (st != PADIM_ERR_NOMEM || B == 1) {
            free_batch_buffers(c);
            return st;
        }
    }
}

/* Run alloc (model-sized arrays); on device OOM, halve the internal batch and retry. */
static padim_status alloc_with_shrink(cuda_ctx *c, padim_status (*alloc)(cuda_ctx *)) {
    for (;;) {
        const padim_status st = alloc(c);
        if (st != PADIM_ERR_NOMEM || c->B <= 1) return st;
        PADIM_TRY(alloc_batch_adaptive(c, c->B / 2));
    }
}

static padim_status alloc_fit(cuda_ctx *c) {
    free_fit_buffers(c);
    const size_t PD = (size_t)c->P * c->D, DD = (size_t)c->D * c->D;
    padim_status st = PADIM_OK;
    st = dev_alloc((void **)&c->shift, PD * sizeof(float), "fit shift");
    if (st == PADIM_OK) st = dev_alloc((void **)&c->s1, PD * sizeof(double), "fit sums (P, D)");
    if (st == PADIM_OK)
        st = dev_alloc((void **)&c->s2, (size_t)c->P * (size_t)c->T * sizeof(double),
                       "fit second moments (P, D(D+1)/2) float64");
    const size_t np = GRAM_BUDGET / (DD * sizeof(float));
    c->gram_np = (int)(np < 1 ? 1 : np > (size_t)c->P ? (size_t)c->P : np);
    if (st == PADIM_OK)
        st = dev_alloc((void **)&c->gram, (size_t)c->gram_np * DD * sizeof(float), "batch grams");
    if (st == PADIM_OK)
        st = padim_cuda_finalize_ws_alloc(&c->fin, c->P, c->D, c->factor_fp64, FINALIZE_BUDGET,
                                          c->stream);
    if (st != PADIM_OK) free_fit_buffers(c);
    return st;
}

static padim_status alloc_score(cuda_ctx *c) {
    padim_status st = dev_alloc((void **)&c->mean, (size_t)c->P * c->D * sizeof(float), "mean");
    if (st == PADIM_OK)
        st = dev_alloc((void **)&c->factor, (size_t)c->P * (size_t)c->T * sizeof(float),
                       "precision factor (P, D(D+1)/2)");
    if (st != PADIM_OK) {
        dev_free(&c->mean);
        dev_free(&c->factor);
    }
    return st;
}

/* ------------------------------------------------------------------ statistics */

padim_status padim_cuda_stats_accumulate(cublasHandle_t blas, cudaStream_t stream, float *emb,
                                         int N, int P, int D, const float *shift, double *s1,
                                         double *s2, float *gram, int gram_np) {
    GPU_CHECK(padim_k_center_sum(emb, N, P, D, shift, s1, stream));
    const float one = 1.0f, zero = 0.0f;
    /* X_p (D x N, column-major): column n at emb + (n P + p) D, so lda = P D and
     * consecutive positions are D apart (strideA). C_p = X_p X_p^T (D x D). */
    const int ld = P * D;
    for (int p0 = 0; p0 < P; p0 += gram_np) {
        const int np = P - p0 < gram_np ? P - p0 : gram_np;
        const float *xp = emb + (size_t)p0 * D;
        GPU_CHECK(cublasSgemmStridedBatched(blas, CUBLAS_OP_N, CUBLAS_OP_T, D, D, N, &one, xp, ld,
                                            D, xp, ld, D, &zero, gram, D, (long long)D * D, np));
        GPU_CHECK(padim_k_add_packed(gram, np, D, p0, s2, stream));
    }
    return PADIM_OK;
}

void padim_cuda_finalize_ws_free(padim_cuda_finalize_ws *ws) {
    dev_free(&ws->cov);
    dev_free(&ws->eye);
    dev_free(&ws->cov_ptrs);
    dev_free(&ws->eye_ptrs);
    dev_free(&ws->info);
    dev_free(&ws->fchunk);
    free(ws->info_host);
    ws->info_host = NULL;
    ws->np = 0;
}

static padim_status finalize_ws_alloc_inner(padim_cuda_finalize_ws *ws, int P, int D, int fp64,
                                            size_t budget, cudaStream_t stream) {
    const size_t DD = (size_t)D * D, elem = fp64 ? sizeof(double) : sizeof(float);
    const size_t np = budget / (2 * DD * elem);
    ws->fp64 = fp64;
    ws->np = (int)(np < 1 ? 1 : np > (size_t)P ? (size_t)P : np);
    const size_t k = (size_t)ws->np;
    PADIM_TRY(dev_alloc(&ws->cov, k * DD * elem, "covariance chunk"));
    PADIM_TRY(dev_alloc(&ws->eye, k * DD * elem, "inverse chunk"));
    PADIM_TRY(dev_alloc((void **)&ws->cov_ptrs, k * sizeof(void *), "batched pointers"));
    PADIM_TRY(dev_alloc((void **)&ws->eye_ptrs, k * sizeof(void *), "batched pointers"));
    PADIM_TRY(dev_alloc((void **)&ws->info, k * sizeof(int), "Cholesky info"));
    PADIM_TRY(dev_alloc((void **)&ws->fchunk, k * (size_t)padim_tri(D) * sizeof(float),
                        "factor chunk"));
    PADIM_TRY(padim_alloc((void **)&ws->info_host, k * sizeof(int), "Cholesky info"));
    GPU_CHECK(padim_k_pointer_array(ws->cov, ws->np, (int64_t)(DD * elem), ws->cov_ptrs, stream));
    GPU_CHECK(padim_k_pointer_array(ws->eye, ws->np, (int64_t)(DD * elem), ws->eye_ptrs, stream));
    return PADIM_OK;
}

padim_status padim_cuda_finalize_ws_alloc(padim_cuda_finalize_ws *ws, int P, int D, int fp64,
                                          size_t budget, cudaStream_t stream) {
    memset(ws, 0, sizeof(*ws));
    const padim_status st = finalize_ws_alloc_inner(ws, P, D, fp64, budget, stream);
    if (st != PADIM_OK) padim_cuda_finalize_ws_free(ws);
    return st;
}

padim_status padim_cuda_stats_finalize(cublasHandle_t blas, cusolverDnHandle_t solver,
                                       cudaStream_t stream, padim_cuda_finalize_ws *ws, int64_t n,
                                       int P, int D, const float *shift, const double *s1,
                                       const double *s2, double eps, float *mean_dev,
                                       float *mean, float *factor) {
    PADIM_ASSERT(n >= 2 && ws->np >= 1);
    const int fp64 = ws->fp64;
    const int64_t T = padim_tri(D);
    GPU_CHECK(padim_k_mean(shift, s1, n, P, D, mean_dev, stream));
    GPU_CHECK(cudaMemcpyAsync(mean, mean_dev, (size_t)P * D * sizeof(float),
                              cudaMemcpyDeviceToHost, stream));
    for (int p0 = 0; p0 < P; p0 += ws->np) {
        const int np = P - p0 < ws->np ? P - p0 : ws->np;
        GPU_CHECK(padim_k_covariance(s1, s2, n, p0, np, D, eps, fp64, ws->cov, ws->eye, stream));
        if (fp64)
            GPU_CHECK(cusolverDnDpotrfBatched(solver, CUBLAS_FILL_MODE_LOWER, D,
                                              (double **)ws->cov_ptrs, D, ws->info, np));
        else
            GPU_CHECK(cusolverDnSpotrfBatched(solver, CUBLAS_FILL_MODE_LOWER, D,
                                              (float **)ws->cov_ptrs, D, ws->info, np));
        GPU_CHECK(cudaMemcpyAsync(ws->info_host, ws->info, (size_t)np * sizeof(int),
                                  cudaMemcpyDeviceToHost, stream));
        GPU_CHECK(cudaStreamSynchronize(stream));
        for (int k = 0; k < np; k++)
            if (ws->info_host[k] != 0)
                return padim_fail(PADIM_ERR_NUMERIC,
                                  "covariance at position %d is not positive definite (%s "
                                  "Cholesky: leading minor %d); increase eps (now %g) or check "
                                  "the training images",
                                  p0 + k, fp64 ? "float64" : "float32", ws->info_host[k], eps);
        /* L X = I -> X = L^-1, lower; the solve reads only L's lower triangle (potrf
         * leaves the covariance in the upper one). */
        if (fp64) {
            const double one = 1.0;
            GPU_CHECK(cublasDtrsmBatched(blas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER,
                                         CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, D, D, &one,
                                         (const double *const *)ws->cov_ptrs, D,
                                         (double *const *)ws->eye_ptrs, D, np));
        } else {
            const float one = 1.0f;
            GPU_CHECK(cublasStrsmBatched(blas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER,
                                         CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, D, D, &one,
                                         (const float *const *)ws->cov_ptrs, D,
                                         (float *const *)ws->eye_ptrs, D, np));
        }
        GPU_CHECK(padim_k_pack_lower(ws->eye, np, D, fp64, ws->fchunk, stream));
        GPU_CHECK(cudaMemcpyAsync(factor + (size_t)p0 * T, ws->fchunk,
                                  (size_t)np * T * sizeof(float), cudaMemcpyDeviceToHost, stream));
    }
    GPU_CHECK(cudaStreamSynchronize(stream));
    return PADIM_OK;
}

/* ------------------------------------------------------------------ create */

/* n float32 host parameters -> dst (n elements of type dt) on the device; the reduced
 * types go through a float32 device copy converted once here. */
static padim_status upload_params(cuda_ctx *c, void *dst, const float *src, size_t n) {
    if (!reduced(c)) {
        GPU_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice));
        return PADIM_OK;
    }
    float *tmp;
    PADIM_TRY(dev_alloc((void **)&tmp, n * sizeof(float), "backbone weights (float32 staging)"));
    /* Copy and conversion on the same stream (the backend's stream does not synchronize
     * with the legacy default stream a plain cudaMemcpy would use). */
    cudaError_t e = cudaMemcpyAsync(tmp, src, n * sizeof(float), cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = to_reduced(c, tmp, (int64_t)n, dst);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    dev_free(&tmp);
    GPU_CHECK(e);
    return PADIM_OK;
}

static padim_status create_descriptors(cuda_ctx *c) {
    GPU_CHECK(cudnnCreateActivationDescriptor(&c->relu));
    GPU_CHECK(cudnnSetActivationDescriptor(c->relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
    GPU_CHECK(cudnnCreatePoolingDescriptor(&c->pool));
    GPU_CHECK(cudnnSetPooling2dDescriptor(c->pool, CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN, 3, 3, 1,
                                          1, 2, 2));
    const bb_weights *wt = c->setup.weights;
    for (int k = 0; k < c->spec.n_convs; k++) {
        const bb_conv_spec *cv = &c->spec.convs[k];
        GPU_CHECK(cudnnCreateFilterDescriptor(&c->wdesc[k]));
        GPU_CHECK(cudnnSetFilter4dDescriptor(c->wdesc[k], c->dt, CUDNN_TENSOR_NCHW, cv->cout,
                                             cv->cin, cv->k, cv->k));
        GPU_CHECK(cudnnCreateConvolutionDescriptor(&c->cdesc[k]));
        /* Compute type float for every dt: FLOAT_CONFIG, PSEUDO_HALF_CONFIG,
         * PSEUDO_BFLOAT16_CONFIG (float32 accumulation). */
        GPU_CHECK(cudnnSetConvolution2dDescriptor(c->cdesc[k], cv->pad, cv->pad, cv->stride,
                                                  cv->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                  CUDNN_DATA_FLOAT));
        GPU_CHECK(cudnnSetConvolutionMathType(c->cdesc[k], c->math));
        GPU_CHECK(cudnnCreateTensorDescriptor(&c->bdesc[k]));
        GPU_CHECK(cudnnSetTensor4dDescriptor(c->bdesc[k], CUDNN_TENSOR_NCHW, c->dt, 1, cv->cout,
                                             1, 1));
        const size_t nw = (size_t)cv->cout * cv->cin * cv->k * cv->k;
        PADIM_TRY(dev_alloc(&c->w[k], nw * c->elem, "backbone weights"));
        PADIM_TRY(dev_alloc(&c->b[k], (size_t)cv->cout * c->elem, "backbone biases"));
        PADIM_TRY(upload_params(c, c->w[k], wt->w[k], nw));
        PADIM_TRY(upload_params(c, c->b[k], wt->b[k], (size_t)cv->cout));
    }
    for (int i = 0; i < c->n_steps; i++) {
        GPU_CHECK(cudnnCreateTensorDescriptor(&c->steps[i].xdesc));
        GPU_CHECK(cudnnCreateTensorDescriptor(&c->steps[i].ydesc));
    }
    /* Our output sides must be cuDNN's (a mismatch is a bug in build_program). */
    PADIM_TRY(set_descriptors(c, 1));
    for (int i = 0; i < c->n_steps; i++) {
        const fwd_step *s = &c->steps[i];
        int dn, dc, dh, dw;
        if (s->conv >= 0)
            GPU_CHECK(cudnnGetConvolution2dForwardOutputDim(c->cdesc[s->conv], s->xdesc,
                                                            c->wdesc[s->conv], &dn, &dc, &dh, &dw));
        else
            GPU_CHECK(cudnnGetPooling2dForwardOutputDim(c->pool, s->xdesc, &dn, &dc, &dh, &dw));
        PADIM_ASSERT(dc == s->cout && dh == s->hout && dw == s->hout);
    }
    return PADIM_OK;
}

static padim_status create_inner(cuda_ctx *c, const backend_setup *s) {
    const padim_precision prec = s->rt ? s->rt->precision : PADIM_PRECISION_FP32;
    static const char *const prec_names[] = {"fp32", "tf32", "fp16", "bf16"};
    if ((int)prec < 0 || (int)prec > 3)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: unknown precision %d (expected fp32, "
                          "tf32, fp16 or bf16)", (int)prec);
    c->math = prec == PADIM_PRECISION_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    c->dt = prec == PADIM_PRECISION_FP16   ? CUDNN_DATA_HALF
            : prec == PADIM_PRECISION_BF16 ? CUDNN_DATA_BFLOAT16
                                           : CUDNN_DATA_FLOAT;
    c->elem = c->dt == CUDNN_DATA_FLOAT ? sizeof(float) : 2;
    const char *env = getenv("PADIM_CUDA_FACTOR");
    c->factor_fp64 = !(env && strcmp(env, "fp32") == 0);
    env = getenv("PADIM_CUDA_UNFUSED");
    c->unfused = env && strcmp(env, "1") == 0;

    /* Device first: without a working GPU no library handle is created. */
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        return padim_fail(PADIM_ERR_DEVICE, "no CUDA device found (cudaGetDeviceCount: %s); use --device cpu or auto",
                          e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
    }
    c->dev = s->rt ? s->rt->gpu : 0;
    if (c->dev < 0 || c->dev >= count)
        return padim_fail(PADIM_ERR_DEVICE, "--gpu %d: this machine has %d CUDA device%s (0..%d)",
                          c->dev, count, count == 1 ? "" : "s", count - 1);
    GPU_CHECK(cudaSetDevice(c->dev));
    size_t total_b = 0;
    GPU_CHECK(cudaMemGetInfo(&c->free_at_start, &total_b));
    struct cudaDeviceProp prop;
    GPU_CHECK(cudaGetDeviceProperties(&prop, c->dev));
    if (prec == PADIM_PRECISION_BF16 && prop.major < 8)
        return padim_fail(PADIM_ERR_ARG, "--precision bf16 needs a GPU of compute capability 8.0 "
                          "or newer; cuda:%d %s is %d.%d (use fp16 or fp32)", c->dev, prop.name,
                          prop.major, prop.minor);
    snprintf(c->desc, sizeof(c->desc), "cuda:%d %s (%s)", c->dev, prop.name, prec_names[prec]);

    GPU_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    GPU_CHECK(cublasCreate(&c->blas));
    GPU_CHECK(cublasSetStream(c->blas, c->stream));
    /* Plain float32 GEMMs (no TF32) for the statistics. */
    GPU_CHECK(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
    GPU_CHECK(cusolverDnCreate(&c->solver));
    GPU_CHECK(cusolverDnSetStream(c->solver, c->stream));
    GPU_CHECK(cudnnCreate(&c->dnn));
    GPU_CHECK(cudnnSetStream(c->dnn, c->stream));

    build_program(c);
    PADIM_TRY(create_descriptors(c));

    PADIM_TRY(dev_alloc((void **)&c->idx, (size_t)c->D * sizeof(int32_t), "channel indices"));
    GPU_CHECK(cudaMemcpy(c->idx, s->idx, (size_t)c->D * sizeof(int32_t), cudaMemcpyHostToDevice));
    c->radius = padim_gaussian_weights(s->sigma, NULL);
    const size_t K = (size_t)(2 * c->radius + 1);
    float *gw_host;
    PADIM_TRY(padim_alloc((void **)&gw_host, K * sizeof(float), "Gaussian weights"));
    padim_gaussian_weights(s->sigma, gw_host);
    padim_status st = dev_alloc((void **)&c->gw, K * sizeof(float), "Gaussian weights");
    if (st == PADIM_OK && cudaMemcpy(c->gw, gw_host, K * sizeof(float), cudaMemcpyHostToDevice) !=
                              cudaSuccess)
        st = padim_fail(PADIM_ERR_DEVICE, "cannot copy the Gaussian weights to the device");
    free(gw_host);
    PADIM_TRY(st);

    PADIM_TRY(alloc_batch_adaptive(c, c->max_batch));
    /* The plain cudaMemcpy calls above (idx, Gaussian weights, fp32 backbone parameters) run
     * on the legacy default stream, which c->stream (non-blocking) does not wait for, and a
     * pageable host-to-device cudaMemcpy may return before its DMA has landed: wait for the
     * whole device, not only c->stream. */
    GPU_CHECK(cudaDeviceSynchronize());
    return PADIM_OK;
}

static padim_status cuda_create(const backend_setup *s, void **out) {
    *out = NULL;
    if (s->max_batch < 1 || s->D < 1 || s->S < 1)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: max_batch %d, D %d, S %d must be >= 1",
                          s->max_batch, s->D, s->S);
    cuda_ctx *c;
    PADIM_TRY(padim_calloc((void **)&c, sizeof(*c), "CUDA backend context"));
    c->setup = *s;
    c->spec = s->weights->spec;
    c->S = s->S;
    c->H = s->H;
    c->W = s->W;
    c->P = s->H * s->W;
    c->D = s->D;
    c->T = padim_tri(s->D);
    c->max_batch = s->max_batch;
    int h1;
    bb_feature_sizes(s->S, &h1, &c->h2, &c->h3);
    PADIM_ASSERT(h1 == s->H && h1 == s->W);
    const padim_status st = create_inner(c, s);
    if (st != PADIM_OK) {
        cuda_destroy(c);
        return st;
    }
    *out = c;
    return PADIM_OK;
}

static const char *cuda_describe(void *p) { return ((cuda_ctx *)p)->desc; }

/* ------------------------------------------------------------------ fit */

static padim_status cuda_fit_begin(void *p) {
    cuda_ctx *c = p;
    if (!c->s2) PADIM_TRY(alloc_with_shrink(c, alloc_fit));
    GPU_CHECK(cudaMemsetAsync(c->s1, 0, (size_t)c->P * c->D * sizeof(double), c->stream));
    GPU_CHECK(cudaMemsetAsync(c->s2, 0, (size_t)c->P * (size_t)c->T * sizeof(double), c->stream));
    c->n_seen = 0;
    return PADIM_OK;
}

static padim_status fit_sub_batch(cuda_ctx *c, const float *x, int n) {
    PADIM_TRY(forward_embed(c, x, n));
    double t = padim_now();
    const size_t PD = (size_t)c->P * c->D;
    if (c->n_seen == 0) /* shift = first image's embedding (P, D) */
        GPU_CHECK(cudaMemcpyAsync(c->shift, c->emb, PD * sizeof(float), cudaMemcpyDeviceToDevice,
                                  c->stream));
    PADIM_TRY(padim_cuda_stats_accumulate(c->blas, c->stream, c->emb, n, c->P, c->D, c->shift,
                                          c->s1, c->s2, c->gram, c->gram_np));
    if (stage_times(c)) PADIM_TRY(stage_mark(c, &t, &stage_times(c)->stats));
    c->n_seen += n;
    return PADIM_OK;
}

static padim_status cuda_fit_batch(void *p, const float *x, int n) {
    cuda_ctx *c = p;
    if (!c->s2) return padim_fail(PADIM_ERR_ARG, "cuda backend: fit_batch before fit_begin");
    if (n < 1 || n > c->max_batch)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: batch of %d images, expected 1..%d", n,
                          c->max_batch);
    const size_t img = (size_t)3 * c->S * c->S;
    for (int off = 0; off < n; off += c->B)
        PADIM_TRY(fit_sub_batch(c, x + (size_t)off * img, n - off < c->B ? n - off : c->B));
    return PADIM_OK;
}

static padim_status cuda_fit_end(void *p, double eps, int64_t *n_total, float *mean,
                                 float *factor) {
    cuda_ctx *c = p;
    *n_total = c->n_seen;
    if (c->n_seen < 2)
        return padim_fail(PADIM_ERR_ARG, "fit needs at least 2 training images, got %lld (the "
                          "covariance is unbiased: it divides by N - 1)", (long long)c->n_seen);
    /* c->emb (>= P*D floats) serves as the device scratch of the mean. */
    double t = padim_now();
    const padim_status st = padim_cuda_stats_finalize(c->blas, c->solver, c->stream, &c->fin,
                                                      c->n_seen, c->P, c->D, c->shift, c->s1,
                                                      c->s2, eps, c->emb, mean, factor);
    if (st != PADIM_OK) return padim_fail_context(st, "grid %dx%d", c->H, c->W);
    if (stage_times(c)) PADIM_TRY(stage_mark(c, &t, &stage_times(c)->factor));
    return PADIM_OK;
}

/* ------------------------------------------------------------------ score */

static padim_status cuda_set_stats(void *p, const float *mean, const float *factor) {
    cuda_ctx *c = p;
    if (!c->factor) PADIM_TRY(alloc_with_shrink(c, alloc_score));
    /* On c->stream: a plain cudaMemcpy would go to the legacy default stream, which the
     * non-blocking c->stream does not wait for (the scoring kernels could read a factor whose
     * last pageable chunk is still in flight). */
    GPU_CHECK(cudaMemcpyAsync(c->mean, mean, (size_t)c->P * c->D * sizeof(float),
                              cudaMemcpyHostToDevice, c->stream));
    GPU_CHECK(cudaMemcpyAsync(c->factor, factor, (size_t)c->P * (size_t)c->T * sizeof(float),
                              cudaMemcpyHostToDevice, c->stream));
    GPU_CHECK(cudaStreamSynchronize(c->stream));
    c->has_stats = 1;
    return PADIM_OK;
}

static padim_status score_sub_batch(cuda_ctx *c, const float *x, int n, float *scores,
                                    float *dist, float *maps) {
    PADIM_TRY(forward_embed(c, x, n));
    padim_stage_times *tm = stage_times(c);
    double t = padim_now();
    GPU_CHECK(padim_k_mahalanobis(c->emb, n, c->P, c->D, c->mean, c->factor, c->dist, c->stream));
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->mahalanobis));
    GPU_CHECK(padim_k_upsample_bilinear(c->dist, n, c->H, c->W, c->S, c->maps, c->stream));
    GPU_CHECK(padim_k_gaussian_blur(c->maps, c->tmp, n, c->S, c->gw, c->radius,
                                    c->setup.pad_mode, c->stream));
    GPU_CHECK(padim_k_map_max(c->maps, n, c->S, c->scores, c->stream));
    if (tm) PADIM_TRY(stage_mark(c, &t, &tm->map));
    GPU_CHECK(cudaMemcpyAsync(scores, c->scores, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost,
                              c->stream));
    if (dist)
        GPU_CHECK(cudaMemcpyAsync(dist, c->dist, (size_t)n * c->P * sizeof(float),
                                  cudaMemcpyDeviceToHost, c->stream));
    if (maps)
        GPU_CHECK(cudaMemcpyAsync(maps, c->maps, (size_t)n * c->S * c->S * sizeof(float),
                                  cudaMemcpyDeviceToHost, c->stream));
    GPU_CHECK(cudaStreamSynchronize(c->stream));
    return PADIM_OK;
}

static padim_status cuda_score_batch(void *p, const float *x, int n, float *scores, float *dist,
                                     float *maps) {
    cuda_ctx *c = p;
    if (!c->has_stats) return padim_fail(PADIM_ERR_ARG, "cuda backend: score_batch before set_stats");
    if (n < 1 || n > c->max_batch)
        return padim_fail(PADIM_ERR_ARG, "cuda backend: batch of %d images, expected 1..%d", n,
                          c->max_batch);
    const size_t img = (size_t)3 * c->S * c->S, SS = (size_t)c->S * c->S;
    for (int off = 0; off < n; off += c->B) {
        const int nb = n - off < c->B ? n - off : c->B;
        PADIM_TRY(score_sub_batch(c, x + (size_t)off * img, nb, scores + off,
                                  dist ? dist + (size_t)off * c->P : NULL,
                                  maps ? maps + (size_t)off * SS : NULL));
    }
    return PADIM_OK;
}

static const backend_ops cuda_ops = {
    .name = "cuda",
    .create = cuda_create,
    .destroy = cuda_destroy,
    .describe = cuda_describe,
    .fit_begin = cuda_fit_begin,
    .fit_batch = cuda_fit_batch,
    .fit_end = cuda_fit_end,
    .set_stats = cuda_set_stats,
    .score_batch = cuda_score_batch,
};

const backend_ops *padim_backend_cuda(void) { return &cuda_ops; }
