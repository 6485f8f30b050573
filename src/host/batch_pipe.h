/*
 * batch_pipe.h - two-slot batch pipeline (batch_pipe.c): the host work of batch k + 1
 * (decoding, preprocessing) runs on a producer thread while the calling thread runs the
 * backend on batch k (backbone, statistics or scoring, writing outputs). On the CUDA
 * backend host and device then work at the same time; on the CPU backend the decode of the
 * next batch fills the cores the backbone leaves idle (its barriers, its serial parts).
 *
 * The caller owns two slots of buffers (e.g. two input batches). produce(k, slot) fills
 * slot `slot` with batch k on the producer thread; consume(k, slot) uses it on the calling
 * thread; a slot is produced again only after it was consumed. Batches are consumed in
 * order. The first error of either side stops both; an error of the producer is raised
 * again on the calling thread with its message (padim_last_error is per thread).
 *
 * overlap = 0 (and a single batch) runs produce and consume alternately on the calling
 * thread, no thread, always in slot 0: a caller that does not overlap needs one slot only.
 */
#ifndef PADIM_BATCH_PIPE_H
#define PADIM_BATCH_PIPE_H

#include "padim.h"

#include <stdint.h>

typedef padim_batch_fn batch_pipe_fn;

/* Whether n_batches batches are worth a decode thread: more than one, and PADIM_OVERLAP
 * is not "0" in the environment (the switch of padim_run_batches and of the pipeline). */
int batch_pipe_overlap(int64_t n_batches);

padim_status batch_pipe_run(int64_t n_batches, batch_pipe_fn produce, batch_pipe_fn consume, void *user,
                            int overlap);

#endif
