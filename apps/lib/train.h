/* train.h - the two training engines behind spin-train: the secure one
 * (train_secure.c, over the MPC protocols) and the float64 reference
 * (train_plain.c, --plaintext).  Both run the same network from the same
 * initial weights on the same batches. */
#ifndef SPIN_TRAIN_H
#define SPIN_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include <spin/mpc.h>

#include "train_model.h"

typedef struct train_hp {
    size_t batch;
    double lr, momentum, weight_decay;
    uint64_t seed;
} train_hp_t;

typedef struct layer_stat {
    double fwd_s, bwd_s;
    uint64_t fwd_bytes, bwd_bytes;    /* sent by this party */
} layer_stat_t;

typedef struct engine engine_t;
struct engine {
    const model_spec_t *m;
    train_hp_t hp;
    layer_stat_t stats[MODEL_MAX_LAYERS];   /* accumulated; reset by the caller */
    /* One SGD step on a batch of B samples: x [B][1][28][28] and labels
     * are read on the data owner only (NULL elsewhere).  With want_loss the
     * mean loss is revealed to the data owner (*loss; NAN elsewhere). */
    int (*step)(engine_t *e, const double *x, const uint8_t *labels, size_t B, int want_loss, double *loss);
    /* Predicted classes of B samples, written on the data owner only. */
    int (*predict)(engine_t *e, const double *x, size_t B, int *pred);
    /* Checkpoint: write/read this party's state (weights, velocities). */
    int (*save)(engine_t *e, FILE *f);
    int (*load)(engine_t *e, FILE *f);
    /* Reveal the weights to party `to` (w[i], b[i] filled there only). */
    int (*export_params)(engine_t *e, int to, double **w, double **b);
    /* Bytes this party has sent so far (0 in plaintext). */
    uint64_t (*bytes_sent)(engine_t *e);
    void (*destroy)(engine_t *e);
    void *st;
};

engine_t *train_plain_new(const model_spec_t *m, const train_hp_t *hp, char *msg, size_t msglen);
engine_t *train_secure_new(spin_ctx_t *ctx, const model_spec_t *m, const train_hp_t *hp, char *msg,
                           size_t msglen);

double train_now(void);

#endif
