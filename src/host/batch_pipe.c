/*
 * batch_pipe.c - see batch_pipe.h. One producer thread (pthreads), one mutex, one
 * condition variable; slot states: free -> produced (status and message kept) -> free.
 */
#include "batch_pipe.h"
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pipe_state {
    int64_t n;
    batch_pipe_fn produce, consume;
    void *user;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int full[2];             /* slot holds a produced batch not yet consumed */
    padim_status status[2];  /* the producer's status for the batch in the slot */
    char message[2][1024];   /* its padim_last_error when the status is an error */
    int stop;                /* the consumer failed or finished: produce no more */
} pipe_state;

static void *producer(void *arg) {
    pipe_state *p = arg;
    for (int64_t k = 0; k < p->n; k++) {
        const int slot = (int)(k & 1);
        pthread_mutex_lock(&p->mu);
        while (p->full[slot] && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        const int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        const padim_status st = p->produce(p->user, k, slot);
        pthread_mutex_lock(&p->mu);
        p->status[slot] = st;
        if (st != PADIM_OK) snprintf(p->message[slot], sizeof(p->message[slot]), "%s", padim_last_error());
        p->full[slot] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (st != PADIM_OK) break;
    }
    return NULL;
}

int batch_pipe_overlap(int64_t n_batches) {
    const char *e = getenv("PADIM_OVERLAP");
    return n_batches > 1 && !(e && !strcmp(e, "0"));
}

padim_status padim_run_batches(int64_t n_batches, padim_batch_fn produce, padim_batch_fn consume, void *user,
                               int overlap) {
    return batch_pipe_run(n_batches, produce, consume, user, overlap && batch_pipe_overlap(n_batches));
}

padim_status batch_pipe_run(int64_t n_batches, batch_pipe_fn produce, batch_pipe_fn consume, void *user,
                            int overlap) {
    if (n_batches <= 0) return PADIM_OK;
    if (!overlap || n_batches == 1) {
        for (int64_t k = 0; k < n_batches; k++) { /* one slot is enough (the caller may have only one) */
            PADIM_TRY(produce(user, k, 0));
            PADIM_TRY(consume(user, k, 0));
        }
        return PADIM_OK;
    }
    pipe_state p;
    memset(&p, 0, sizeof(p));
    p.n = n_batches;
    p.produce = produce;
    p.consume = consume;
    p.user = user;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    const int rc = pthread_create(&th, NULL, producer, &p);
    if (rc != 0) {
        pthread_cond_destroy(&p.cv);
        pthread_mutex_destroy(&p.mu);
        return padim_fail(PADIM_ERR_NOMEM, "cannot start the decoding thread: %s", strerror(rc));
    }
    padim_status st = PADIM_OK;
    for (int64_t k = 0; k < n_batches && st == PADIM_OK; k++) {
        const int slot = (int)(k & 1);
        pthread_mutex_lock(&p.mu);
        while (!p.full[slot]) pthread_cond_wait(&p.cv, &p.mu);
        const padim_status pst = p.status[slot];
        pthread_mutex_unlock(&p.mu);
        if (pst != PADIM_OK) {
            st = padim_fail(pst, "%s", p.message[slot]);
            break;
        }
        st = consume(user, k, slot);
        pthread_mutex_lock(&p.mu);
        p.full[slot] = 0;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
    }
    pthread_mutex_lock(&p.mu);
    p.stop = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return st;
}
