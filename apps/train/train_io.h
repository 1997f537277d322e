/* train_io.h - spin-train's files: checkpoints (each party's own shares,
 * two generations, written atomically, mode 0600 in a 0700 directory) and
 * the safetensors export (mode 0600). */
#ifndef SPIN_TRAIN_IO_H
#define SPIN_TRAIN_IO_H

#include <spin/mpc.h>

#include "safetensors.h"
#include "train.h"

/* The header that starts every checkpoint file ("SPINCKP1", then the run it
 * belongs to and its position), in host byte order; the engine's state
 * follows, then the end marker "SPINEND1". */
typedef struct ckpt_hdr {
    char magic[8];
    char model[16];
    uint32_t nparties, party, frac_bits, reserved;
    uint64_t seed, batch, epoch, iter;
    double lr, momentum, weight_decay;
} ckpt_hdr_t;

/* Create the checkpoint directory dir with mode 0700, or check that the
 * existing one is a directory of this user that group and others cannot
 * access (else an error in msg naming the remedy, e.g. chmod 700 DIR):
 * every party's shares are written there (files 0600). */
int ckpt_dir_prepare(const char *dir, char *msg, size_t msglen);
/* ctx NULL: the plaintext engine.  Checkpoint position: the next epoch and
 * batch to run.  Errors fill msg (naming the file and the remedy). */
int ckpt_save(spin_ctx_t *ctx, engine_t *e, const char *dir, const model_spec_t *m, const train_hp_t *hp,
              unsigned f, int epoch, size_t iter, char *msg, size_t msglen);
/* Load the newest checkpoint every party has (parties agree on it). */
int ckpt_resume(spin_ctx_t *ctx, engine_t *e, const char *dir, const model_spec_t *m, const train_hp_t *hp,
                unsigned f, int *epoch, size_t *iter, char *msg, size_t msglen);
/* Reveal the weights to party `to`, which writes them to path as
 * safetensors (F32, PyTorch names "<layer>.weight", "<layer>.bias"). */
int export_model(spin_ctx_t *ctx, engine_t *e, const model_spec_t *m, int to, const char *path, char *msg,
                 size_t msglen);
#endif
