/*
 * cuda_backbone.c - the cuDNN backbone program (src/host/cuda/, contract in
 * cuda_backbone.h), run by backend_cuda.c before the embedding.
 *
 * cuDNN legacy API, NCHW: conv + folded-BN bias + (residual) + ReLU fused in
 * cudnnConvolutionBiasActivationForward where it applies, else cudnnConvolutionForward +
 * cudnnAddTensor (+ cudnnActivationForward); max pool with cudnnPoolingForward.
 * Algorithms are chosen per batch size with cudnnGetConvolutionForwardAlgorithm_v7 and
 * cached; one workspace, sized for the largest batch.
 * --precision fp16 / bf16: the same program with every backbone tensor (input, weights,
 * biases, activations) in half / bfloat16 and the convolutions computing in float32
 * (cuDNN's PSEUDO_HALF / PSEUDO_BFLOAT16 configurations, tensor-op math). The fp32 input
 * batch is converted on the device (src/kernels/convert.cu), the weights once at create;
 * layer1..3 are converted back to float32 buffers for the embedding, so everything from
 * the embedding on is float32 exactly as in fp32 mode.
 */
#include "cuda_backbone.h"

#include "common.h"
#include "cuda_check.h"
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

#define WORKSPACE_CAP ((size_t)1 << 30) /* largest cuDNN workspace one conv may take */

const char *cuda_backbone_precision_name(padim_precision prec) {
    static const char *const names[] = {"fp32", "tf32", "fp16", "bf16"};
    return (int)prec >= 0 && (int)prec < 4 ? names[prec] : NULL;
}

static int env_is_1(const char *name) {
    const char *v = getenv(name);
    return v && strcmp(v, "1") == 0;
}

/* ------------------------------------------------------------------ program */

static int conv_out_side(int h, const bb_conv_spec *cv) {
    return (h + 2 * cv->pad - cv->k) / cv->stride + 1;
}

static void add_step(cuda_backbone *bb, int conv, int in, int out, int z, int relu, int cin,
                     int hin, int cout, int hout) {
    PADIM_ASSERT(bb->n_steps < CUDA_BB_MAX_STEPS);
    cuda_bb_step *s = &bb->steps[bb->n_steps++];
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
    if (need > bb->buf_per_image[out]) bb->buf_per_image[out] = need;
}

/* Translate the spec into steps over the buffers: conv1 -> T1, pool -> R0, then per block
 * a -> T1 (ReLU), [b -> T2 (ReLU)], [downsample -> T3], last conv + shortcut + ReLU ->
 * the other R buffer, or L1/L2/L3 for the last block of a layer. */
static void build_program(cuda_backbone *bb) {
    const bb_spec *sp = &bb->spec;
    bb->n_steps = 0;
    memset(bb->buf_per_image, 0, sizeof(bb->buf_per_image));
    bb->buf_per_image[CUDA_BUF_X] = (int64_t)3 * bb->S * bb->S;
    const bb_conv_spec *c1 = &sp->convs[0];
    int h = conv_out_side(bb->S, c1);
    add_step(bb, 0, CUDA_BUF_X, CUDA_BUF_T1, -1, 1, 3, bb->S, c1->cout, h);
    const int hp = (h + 2 - 3) / 2 + 1; /* max pool 3x3/2 pad 1 */
    add_step(bb, -1, CUDA_BUF_T1, CUDA_BUF_R0, -1, 0, c1->cout, h, c1->cout, hp);
    int cur = CUDA_BUF_R0, curc = c1->cout, curh = hp;
    for (int layer = 0; layer < 3; layer++) {
        for (int bi = 0; bi < sp->n_blocks[layer]; bi++) {
            const bb_block *blk = &sp->blocks[layer][bi];
            const bb_conv_spec *a = &sp->convs[blk->a], *b = &sp->convs[blk->b];
            const int ha = conv_out_side(curh, a);
            add_step(bb, blk->a, cur, CUDA_BUF_T1, -1, 1, curc, curh, a->cout, ha);
            const int hb = conv_out_side(ha, b);
            int last = blk->b, last_in = CUDA_BUF_T1, last_cin = a->cout, last_hin = ha;
            int hout = hb, cout = b->cout;
            if (blk->c >= 0) {
                add_step(bb, blk->b, CUDA_BUF_T1, CUDA_BUF_T2, -1, 1, a->cout, ha, b->cout, hb);
                const bb_conv_spec *cc = &sp->convs[blk->c];
                last = blk->c;
                last_in = CUDA_BUF_T2;
                last_cin = b->cout;
                last_hin = hb;
                hout = conv_out_side(hb, cc);
                cout = cc->cout;
            }
            int z = cur;
            if (blk->down >= 0) {
                const bb_conv_spec *dn = &sp->convs[blk->down];
                add_step(bb, blk->down, cur, CUDA_BUF_T3, -1, 0, curc, curh, dn->cout,
                         conv_out_side(curh, dn));
                z = CUDA_BUF_T3;
            }
            const int out = bi == sp->n_blocks[layer] - 1 ? CUDA_BUF_L1 + layer
                            : cur == CUDA_BUF_R0           ? CUDA_BUF_R1
                                                           : CUDA_BUF_R0;
            add_step(bb, last, last_in, out, z, 1, last_cin, last_hin, cout, hout);
            cur = out;
            curc = cout;
            curh = hout;
        }
    }
}

/* Set every step's tensor descriptors for batch n (host-only calls). */
static padim_status set_descriptors(cuda_backbone *bb, int n) {
    if (bb->desc_n == n) return PADIM_OK;
    for (int i = 0; i < bb->n_steps; i++) {
        cuda_bb_step *s = &bb->steps[i];
        GPU_CHECK(cudnnSetTensor4dDescriptor(s->xdesc, CUDNN_TENSOR_NCHW, bb->dt, n, s->cin,
                                             s->hin, s->hin));
        GPU_CHECK(cudnnSetTensor4dDescriptor(s->ydesc, CUDNN_TENSOR_NCHW, bb->dt, n, s->cout,
                                             s->hout, s->hout));
    }
    bb->desc_n = n;
    return PADIM_OK;
}

/* Choose the algorithm of every conv step for the batch the descriptors are set for: the
 * fastest by cuDNN's heuristics whose workspace fits ws_limit, in the requested math
 * (exact fp32 refuses tensor-op entries; their math type is then pinned to FMA). Falls
 * back to IMPLICIT_GEMM (no workspace). ws_need: the largest workspace chosen. */
static padim_status choose_algos(cuda_backbone *bb, cuda_bb_algos *e, size_t ws_limit,
                                 size_t *ws_need) {
    *ws_need = 0;
    for (int i = 0; i < bb->n_steps; i++) {
        const cuda_bb_step *s = &bb->steps[i];
        if (s->conv < 0) continue;
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int returned = 0;
        GPU_CHECK(cudnnSetConvolutionMathType(bb->cdesc[s->conv], bb->math));
        GPU_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
            bb->dnn, s->xdesc, bb->wdesc[s->conv], bb->cdesc[s->conv], s->ydesc,
            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
        e->algo[i] = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        e->math[i] = bb->math;
        size_t mem = 0;
        for (int r = 0; r < returned; r++) {
            if (perf[r].status != CUDNN_STATUS_SUCCESS || perf[r].memory > ws_limit) continue;
            const int tensor_op = perf[r].mathType == CUDNN_TENSOR_OP_MATH ||
                                  perf[r].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
            if (bb->math == CUDNN_FMA_MATH && tensor_op) continue;
            if (perf[r].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
            e->algo[i] = perf[r].algo;
            e->math[i] = bb->math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : perf[r].mathType;
            mem = perf[r].memory;
            break;
        }
        /* The heuristic's memory is an estimate: ask for the exact size. */
        GPU_CHECK(cudnnSetConvolutionMathType(bb->cdesc[s->conv], e->math[i]));
        size_t exact = 0;
        GPU_CHECK(cudnnGetConvolutionForwardWorkspaceSize(bb->dnn, s->xdesc, bb->wdesc[s->conv],
                                                          bb->cdesc[s->conv], s->ydesc,
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

padim_status cuda_backbone_prepare(cuda_backbone *bb, int n) {
    PADIM_ASSERT(n >= 1 && n <= bb->B);
    PADIM_TRY(set_descriptors(bb, n));
    if (bb->cur_algo && bb->cur_algo->n == n) return PADIM_OK;
    for (int i = 0; i < CUDA_BB_ALGO_CACHE; i++)
        if (bb->algos[i].n == n) {
            bb->cur_algo = &bb->algos[i];
            return PADIM_OK;
        }
    cuda_bb_algos *e = &bb->algos[bb->algo_next];
    bb->algo_next = (bb->algo_next + 1) % CUDA_BB_ALGO_CACHE;
    size_t need = 0;
    e->n = 0;
    PADIM_TRY(choose_algos(bb, e, bb->ws_bytes, &need));
    e->n = n;
    bb->cur_algo = e;
    return PADIM_OK;
}

/* ------------------------------------------------------------------ forward */

/* y = act(conv(x) + bias [+ z]): the fused cuDNN call when the step ends in ReLU (the
 * identity activation would restrict the algorithm), else convolution, bias and residual
 * as separate calls. x, y, z, bias and weights are all of type dt (bias included: cuDNN
 * wants it in y's type outside the int8 configurations); the scaling factors are float
 * for every type but double. */
static padim_status run_conv_step(cuda_backbone *bb, int i) {
    const cuda_bb_step *s = &bb->steps[i];
    cuda_bb_fused *rec = &bb->fused[i];
    const int k = s->conv;
    const float one = 1.0f, zero = 0.0f;
    const void *x = bb->buf[s->in];
    void *y = bb->buf[s->out];
    const void *z = s->z >= 0 ? bb->buf[s->z] : NULL;
    const cudnnConvolutionFwdAlgo_t algo = bb->cur_algo->algo[i];
    GPU_CHECK(cudnnSetConvolutionMathType(bb->cdesc[k], bb->cur_algo->math[i]));
    if (s->relu && !bb->unfused && rec->refused == CUDNN_STATUS_SUCCESS) {
        const float alpha2 = z ? 1.0f : 0.0f;
        const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
            bb->dnn, &one, s->xdesc, x, bb->wdesc[k], bb->w[k], bb->cdesc[k], algo, bb->ws,
            bb->ws_bytes, &alpha2, s->ydesc, z ? z : y, bb->bdesc[k], bb->b[k], bb->relu,
            s->ydesc, y);
        if (st == CUDNN_STATUS_SUCCESS) {
            rec->fused++;
            return PADIM_OK;
        }
        /* cuDNN 9 reports unsupported configurations as 3000 + a sub-code
         * (CUDNN_STATUS_NOT_SUPPORTED_SHAPE, ..._DATA_TYPE, ...): compare the category.
         * BAD_PARAM is also taken as "no fused variant": the no-residual call passes z = y
         * with alpha2 = 0, an aliasing some cuDNN versions may refuse; the split path below
         * is always legal. Anything else is a real failure. */
        const cudnnStatus_t cat = CUDNN_STATUS_CATEGORY(st);
        if (cat != CUDNN_STATUS_NOT_SUPPORTED && cat != CUDNN_STATUS_BAD_PARAM) GPU_CHECK(st);
        if (bb->verbose)
            fprintf(stderr, "padim-gpu: cuDNN fused conv+bias+ReLU refused for step %d (%s); using separate calls\n",
                    i, cudnnGetErrorString(st));
        /* this algorithm has no fused variant: split from now on */
        rec->refused = st;
        rec->refused_algo = algo;
        rec->refused_n = bb->desc_n;
    }
    rec->split++;
    GPU_CHECK(cudnnConvolutionForward(bb->dnn, &one, s->xdesc, x, bb->wdesc[k], bb->w[k],
                                      bb->cdesc[k], algo, bb->ws, bb->ws_bytes, &zero, s->ydesc,
                                      y));
    GPU_CHECK(cudnnAddTensor(bb->dnn, &one, bb->bdesc[k], bb->b[k], &one, s->ydesc, y));
    if (z) GPU_CHECK(cudnnAddTensor(bb->dnn, &one, s->ydesc, z, &one, s->ydesc, y));
    if (s->relu)
        GPU_CHECK(cudnnActivationForward(bb->dnn, bb->relu, &one, s->ydesc, y, &zero, s->ydesc,
                                         y));
    return PADIM_OK;
}

static int reduced(const cuda_backbone *bb) { return bb->dt != CUDNN_DATA_FLOAT; }

/* float32 (n) -> the reduced backbone type dt (HALF or BFLOAT16), on the stream. */
static cudaError_t to_reduced(const cuda_backbone *bb, const float *in, int64_t n, void *out) {
    return bb->dt == CUDNN_DATA_HALF ? padim_k_f32_to_f16(in, n, out, bb->stream)
                                     : padim_k_f32_to_bf16(in, n, out, bb->stream);
}

static cudaError_t from_reduced(const cuda_backbone *bb, const void *in, int64_t n, float *out) {
    return bb->dt == CUDNN_DATA_HALF ? padim_k_f16_to_f32(in, n, out, bb->stream)
                                     : padim_k_bf16_to_f32(in, n, out, bb->stream);
}

padim_status cuda_backbone_upload(cuda_backbone *bb, const float *x, int n) {
    PADIM_ASSERT(n >= 1 && n <= bb->B);
    const int64_t nx = (int64_t)n * bb->buf_per_image[CUDA_BUF_X];
    float *x32 = reduced(bb) ? bb->x32 : (float *)bb->buf[CUDA_BUF_X];
    GPU_CHECK(cudaMemcpyAsync(x32, x, (size_t)nx * sizeof(float), cudaMemcpyHostToDevice,
                              bb->stream));
    return cuda_backbone_prepare(bb, n);
}

padim_status cuda_backbone_forward(cuda_backbone *bb, int n, const float *feat[3]) {
    PADIM_ASSERT(bb->desc_n == n && bb->cur_algo && bb->cur_algo->n == n);
    if (reduced(bb))
        GPU_CHECK(to_reduced(bb, bb->x32, n * bb->buf_per_image[CUDA_BUF_X], bb->buf[CUDA_BUF_X]));
    const float one = 1.0f, zero = 0.0f;
    for (int i = 0; i < bb->n_steps; i++) {
        const cuda_bb_step *s = &bb->steps[i];
        if (s->conv < 0)
            GPU_CHECK(cudnnPoolingForward(bb->dnn, bb->pool, &one, s->xdesc, bb->buf[s->in],
                                          &zero, s->ydesc, bb->buf[s->out]));
        else
            PADIM_TRY(run_conv_step(bb, i));
    }
    for (int l = 0; l < 3; l++) {
        if (reduced(bb)) {
            GPU_CHECK(from_reduced(bb, bb->buf[CUDA_BUF_L1 + l],
                                   n * bb->buf_per_image[CUDA_BUF_L1 + l], bb->feat32[l]));
            feat[l] = bb->feat32[l];
        } else {
            feat[l] = bb->buf[CUDA_BUF_L1 + l];
        }
    }
    return PADIM_OK;
}

/* ------------------------------------------------------------------ batch buffers */

void cuda_backbone_free_batch(cuda_backbone *bb) {
    for (int i = 0; i < CUDA_BUF_COUNT; i++) cuda_dev_free(&bb->buf[i]);
    cuda_dev_free(&bb->x32);
    for (int l = 0; l < 3; l++) cuda_dev_free(&bb->feat32[l]);
    cuda_dev_free(&bb->ws);
    bb->ws_bytes = 0;
    bb->B = 0;
    /* the algorithms were chosen against the old workspace */
    memset(bb->algos, 0, sizeof(bb->algos));
    bb->algo_next = 0;
    bb->desc_n = 0;
    bb->cur_algo = NULL;
}

static padim_status alloc_batch_inner(cuda_backbone *bb, int B) {
    static const char *const names[CUDA_BUF_COUNT] = {
        "input batch", "block outputs", "block outputs", "conv scratch", "conv scratch",
        "shortcut", "layer1 features", "layer2 features", "layer3 features"};
    bb->B = B;
    for (int i = 0; i < CUDA_BUF_COUNT; i++) {
        const size_t bytes = (size_t)B * bb->buf_per_image[i] * bb->elem;
        PADIM_TRY(cuda_dev_alloc(&bb->buf[i], bytes, names[i]));
        /* Zeroed once: the fused call without a residual passes y itself as z with
         * alpha2 = 0, and 0 * (uninitialised NaN) would be NaN (all-zero bits are 0.0 in
         * half and bfloat16 too). */
        GPU_CHECK(cudaMemsetAsync(bb->buf[i], 0, bytes, bb->stream));
    }
    if (reduced(bb)) {
        PADIM_TRY(cuda_dev_alloc((void **)&bb->x32,
                                 (size_t)B * bb->buf_per_image[CUDA_BUF_X] * sizeof(float),
                                 "input batch (float32)"));
        for (int l = 0; l < 3; l++)
            PADIM_TRY(cuda_dev_alloc((void **)&bb->feat32[l],
                                     (size_t)B * bb->buf_per_image[CUDA_BUF_L1 + l] * sizeof(float),
                                     names[CUDA_BUF_L1 + l]));
    }
    /* Workspace: the largest any conv's preferred algorithm wants at batch B. */
    PADIM_TRY(set_descriptors(bb, B));
    cuda_bb_algos *e = &bb->algos[0];
    size_t need = 0;
    PADIM_TRY(choose_algos(bb, e, WORKSPACE_CAP, &need));
    if (need > 0) PADIM_TRY(cuda_dev_alloc(&bb->ws, need, "cuDNN workspace"));
    bb->ws_bytes = need;
    e->n = B;
    bb->algo_next = 1;
    bb->cur_algo = e;
    return PADIM_OK;
}

padim_status cuda_backbone_alloc_batch(cuda_backbone *bb, int B) {
    cuda_backbone_free_batch(bb);
    const padim_status st = alloc_batch_inner(bb, B);
    if (st != PADIM_OK) cuda_backbone_free_batch(bb);
    return st;
}

/* ------------------------------------------------------------------ create, free */

/* n float32 host parameters -> dst (n elements of type dt) on the device; the reduced
 * types go through a float32 device copy converted once here. */
static padim_status upload_params(cuda_backbone *bb, void *dst, const float *src, size_t n) {
    if (!reduced(bb)) {
        GPU_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice));
        return PADIM_OK;
    }
    float *tmp;
    PADIM_TRY(cuda_dev_alloc((void **)&tmp, n * sizeof(float),
                             "backbone weights (float32 staging)"));
    /* Copy and conversion on the same stream (the backend's stream does not synchronize
     * with the legacy default stream a plain cudaMemcpy would use). */
    cudaError_t e = cudaMemcpyAsync(tmp, src, n * sizeof(float), cudaMemcpyHostToDevice,
                                    bb->stream);
    if (e == cudaSuccess) e = to_reduced(bb, tmp, (int64_t)n, dst);
    if (e == cudaSuccess) e = cudaStreamSynchronize(bb->stream);
    cuda_dev_free(&tmp);
    GPU_CHECK(e);
    return PADIM_OK;
}

static padim_status create_descriptors(cuda_backbone *bb, const bb_weights *wt) {
    GPU_CHECK(cudnnCreateActivationDescriptor(&bb->relu));
    /* NOT_PROPAGATE_NAN: TensorFlow (and oneDNN's cuDNN path) build the ReLU of the fused
     * cudnnConvolutionBiasActivationForward this way; with PROPAGATE_NAN cuDNN is
     * suspected to have no fused kernel and to refuse every call (the fused report,
     * PADIM_CUDA_REPORT=1, shows it on a GPU). For finite inputs the two agree. */
    GPU_CHECK(cudnnSetActivationDescriptor(bb->relu, CUDNN_ACTIVATION_RELU,
                                           CUDNN_NOT_PROPAGATE_NAN, 0.0));
    GPU_CHECK(cudnnCreatePoolingDescriptor(&bb->pool));
    GPU_CHECK(cudnnSetPooling2dDescriptor(bb->pool, CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN, 3, 3,
                                          1, 1, 2, 2));
    for (int k = 0; k < bb->spec.n_convs; k++) {
        const bb_conv_spec *cv = &bb->spec.convs[k];
        GPU_CHECK(cudnnCreateFilterDescriptor(&bb->wdesc[k]));
        GPU_CHECK(cudnnSetFilter4dDescriptor(bb->wdesc[k], bb->dt, CUDNN_TENSOR_NCHW, cv->cout,
                                             cv->cin, cv->k, cv->k));
        GPU_CHECK(cudnnCreateConvolutionDescriptor(&bb->cdesc[k]));
        /* Compute type float for every dt: FLOAT_CONFIG, PSEUDO_HALF_CONFIG,
         * PSEUDO_BFLOAT16_CONFIG (float32 accumulation). */
        GPU_CHECK(cudnnSetConvolution2dDescriptor(bb->cdesc[k], cv->pad, cv->pad, cv->stride,
                                                  cv->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                  CUDNN_DATA_FLOAT));
        GPU_CHECK(cudnnSetConvolutionMathType(bb->cdesc[k], bb->math));
        GPU_CHECK(cudnnCreateTensorDescriptor(&bb->bdesc[k]));
        GPU_CHECK(cudnnSetTensor4dDescriptor(bb->bdesc[k], CUDNN_TENSOR_NCHW, bb->dt, 1,
                                             cv->cout, 1, 1));
        const size_t nw = (size_t)cv->cout * cv->cin * cv->k * cv->k;
        PADIM_TRY(cuda_dev_alloc(&bb->w[k], nw * bb->elem, "backbone weights"));
        PADIM_TRY(cuda_dev_alloc(&bb->b[k], (size_t)cv->cout * bb->elem, "backbone biases"));
        PADIM_TRY(upload_params(bb, bb->w[k], wt->w[k], nw));
        PADIM_TRY(upload_params(bb, bb->b[k], wt->b[k], (size_t)cv->cout));
    }
    for (int i = 0; i < bb->n_steps; i++) {
        GPU_CHECK(cudnnCreateTensorDescriptor(&bb->steps[i].xdesc));
        GPU_CHECK(cudnnCreateTensorDescriptor(&bb->steps[i].ydesc));
    }
    /* Our output sides must be cuDNN's (a mismatch is a bug in build_program). */
    PADIM_TRY(set_descriptors(bb, 1));
    for (int i = 0; i < bb->n_steps; i++) {
        const cuda_bb_step *s = &bb->steps[i];
        int dn, dc, dh, dw;
        if (s->conv >= 0)
            GPU_CHECK(cudnnGetConvolution2dForwardOutputDim(bb->cdesc[s->conv], s->xdesc,
                                                            bb->wdesc[s->conv], &dn, &dc, &dh,
                                                            &dw));
        else
            GPU_CHECK(cudnnGetPooling2dForwardOutputDim(bb->pool, s->xdesc, &dn, &dc, &dh, &dw));
        PADIM_ASSERT(dc == s->cout && dh == s->hout && dw == s->hout);
    }
    return PADIM_OK;
}

padim_status cuda_backbone_create(cuda_backbone *bb, const bb_weights *wt, int S,
                                  padim_precision prec, int verbose, cudnnHandle_t dnn,
                                  cudaStream_t stream) {
    memset(bb, 0, sizeof(*bb));
    PADIM_ASSERT(cuda_backbone_precision_name(prec) != NULL);
    bb->spec = wt->spec;
    bb->S = S;
    bb->prec = prec;
    bb->dnn = dnn;
    bb->stream = stream;
    bb->verbose = verbose;
    bb->math = prec == PADIM_PRECISION_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    bb->dt = prec == PADIM_PRECISION_FP16   ? CUDNN_DATA_HALF
             : prec == PADIM_PRECISION_BF16 ? CUDNN_DATA_BFLOAT16
                                            : CUDNN_DATA_FLOAT;
    bb->elem = bb->dt == CUDNN_DATA_FLOAT ? sizeof(float) : 2;
    bb->unfused = env_is_1("PADIM_CUDA_UNFUSED");
    bb->report = env_is_1("PADIM_CUDA_REPORT");
    build_program(bb);
    const padim_status st = create_descriptors(bb, wt);
    if (st != PADIM_OK) {
        bb->report = 0; /* nothing ran */
        cuda_backbone_free(bb);
    }
    return st;
}

void cuda_backbone_fused_report(const cuda_backbone *bb, FILE *out) {
    for (int i = 0; i < bb->n_steps; i++) {
        const cuda_bb_step *s = &bb->steps[i];
        const cuda_bb_fused *r = &bb->fused[i];
        if (s->conv < 0) continue;
        fprintf(out, "padim-gpu: cuDNN fused report (%s): step %2d %-21s %dx%dx%d -> %dx%dx%d%s: ",
                cuda_backbone_precision_name(bb->prec), i, bb->spec.convs[s->conv].name, s->cin,
                s->hin, s->hin, s->cout, s->hout, s->hout, s->z >= 0 ? " + residual" : "");
        if (!s->relu)
            fprintf(out, "no ReLU, separate calls by design (%lld calls)\n", (long long)r->split);
        else if (bb->unfused)
            fprintf(out, "fused call off (PADIM_CUDA_UNFUSED=1), separate calls (%lld calls)\n",
                    (long long)r->split);
        else if (r->refused == CUDNN_STATUS_SUCCESS)
            fprintf(out, "fused (%lld calls)\n", (long long)r->fused);
        else
            fprintf(out, "FELL BACK to separate calls (%lld calls; %lld fused before): cuDNN "
                    "refused the fused call with %s (%d), algo %d, batch %d\n",
                    (long long)r->split, (long long)r->fused, cudnnGetErrorString(r->refused),
                    (int)r->refused, (int)r->refused_algo, r->refused_n);
    }
}

void cuda_backbone_free(cuda_backbone *bb) {
    if (bb->report) cuda_backbone_fused_report(bb, stderr);
    cuda_backbone_free_batch(bb);
    for (int i = 0; i < BB_MAX_CONVS; i++) {
        cuda_dev_free(&bb->w[i]);
        cuda_dev_free(&bb->b[i]);
        if (bb->wdesc[i]) cudnnDestroyFilterDescriptor(bb->wdesc[i]);
        if (bb->cdesc[i]) cudnnDestroyConvolutionDescriptor(bb->cdesc[i]);
        if (bb->bdesc[i]) cudnnDestroyTensorDescriptor(bb->bdesc[i]);
    }
    for (int i = 0; i < CUDA_BB_MAX_STEPS; i++) {
        if (bb->steps[i].xdesc) cudnnDestroyTensorDescriptor(bb->steps[i].xdesc);
        if (bb->steps[i].ydesc) cudnnDestroyTensorDescriptor(bb->steps[i].ydesc);
    }
    if (bb->relu) cudnnDestroyActivationDescriptor(bb->relu);
    if (bb->pool) cudnnDestroyPoolingDescriptor(bb->pool);
    memset(bb, 0, sizeof(*bb));
}
