/*
 * backend.c - the part of the backend seam (backend.h) that both backends share: the
 * sizes derived from a backend_setup, so that the CPU and CUDA contexts cannot disagree.
 */
#include "backend.h"
#include "common.h"
#include "shared_math.h"

backend_dims backend_dims_of(const backend_setup *s) {
    backend_dims d;
    d.S = s->S;
    d.H = s->H;
    d.W = s->W;
    d.P = s->H * s->W;
    d.D = s->D;
    d.T = padim_tri(s->D);
    d.max_batch = s->max_batch;
    int h1;
    bb_feature_sizes(s->S, &h1, &d.h2, &d.h3);
    PADIM_ASSERT(h1 == s->H && h1 == s->W);
    return d;
}
