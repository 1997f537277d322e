/* train_io.c - checkpoints and export for spin-train (see train_io.h).
 *
 * Checkpoint file DIR/party-I.ckpt (plaintext: DIR/plaintext.ckpt): a
 * header (magic "SPINCKP1", model, party count, party, f, seed, batch,
 * epoch, batch index, hyper-parameters), the engine's state (this party's
 * shares of every weight, bias and velocity, and of BatchNorm's running
 * mean and variance after its layer's velocities; doubles in plaintext),
 * then the magic "SPINEND1".  A new checkpoint is written to a temporary file,
 * synced, and renamed over the old one after the old one has been renamed
 * to party-I.prev.ckpt: a run killed at any moment leaves at least one
 * complete generation.  On --resume the parties reveal which positions
 * they hold (public training progress, nothing else) and load the newest
 * one they all have.
 *
 * The files hold a party's shares: DIR is created 0700 (an existing DIR
 * that group or others can enter, or that another user owns, is refused
 * with the remedy) and every file in it is written 0600, whatever the
 * umask. */
#include "config.h"

#include "train_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static void ckpt_path(char *out, size_t len, const char *dir, int party, int prev, int plain)
{
    if (plain) snprintf(out, len, "%s/plaintext%s.ckpt", dir, prev ? ".prev" : "");
    else snprintf(out, len, "%s/party-%d%s.ckpt", dir, party, prev ? ".prev" : "");
}

static void fill_hdr(ckpt_hdr_t *h, spin_ctx_t *ctx, const model_spec_t *m, const train_hp_t *hp, unsigned f)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, "SPINCKP1", 8);
    snprintf(h->model, sizeof h->model, "%s", m->name);
    h->nparties = ctx ? (uint32_t)spin_ctx_nparties(ctx) : 0;
    h->party = ctx ? (uint32_t)spin_ctx_party(ctx) : 0;
    h->frac_bits = f;
    h->seed = hp->seed;
    h->batch = hp->batch;
    h->lr = hp->lr;
    h->momentum = hp->momentum;
    h->weight_decay = hp->weight_decay;
}

int ckpt_dir_prepare(const char *dir, char *msg, size_t msglen)
{
    if (mkdir(dir, 0700) == 0) {
        /* the umask may have taken bits away, never added any */
        if (chmod(dir, 0700) != 0) {
            snprintf(msg, msglen, "cannot set the mode of the checkpoint directory %s: %s", dir, strerror(errno));
            return SPIN_ERR_IO;
        }
        return 0;
    }
    if (errno != EEXIST) {
        snprintf(msg, msglen, "cannot create the checkpoint directory %s: %s", dir, strerror(errno));
        return SPIN_ERR_IO;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        snprintf(msg, msglen, "cannot use the checkpoint directory %s: %s", dir, strerror(errno));
        return SPIN_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(msg, msglen, "--checkpoint %s: %s, not a directory", dir,
                 S_ISLNK(st.st_mode) ? "a symbolic link" : "exists");
        return SPIN_ERR_INVAL;
    }
    if (st.st_uid != geteuid()) {
        snprintf(msg, msglen, "the checkpoint directory %s belongs to another user (uid %u): the checkpoints hold "
                 "this party's shares; use a directory of your own (mkdir -m 700 DIR)", dir, (unsigned)st.st_uid);
        return SPIN_ERR_INVAL;
    }
    if (st.st_mode & 077) {
        snprintf(msg, msglen, "the checkpoint directory %s is accessible by other users (mode %03o): the checkpoints "
                 "hold this party's shares; run chmod 700 %s", dir, (unsigned)(st.st_mode & 0777), dir);
        return SPIN_ERR_INVAL;
    }
    return 0;
}

/* path for writing, mode 0600 whatever the umask (or an earlier file of
 * that name had); never through a symbolic link. */
static FILE *open_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return NULL;
    FILE *fp = fchmod(fd, 0600) == 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e;
    }
    return fp;
}

int ckpt_save(spin_ctx_t *ctx, engine_t *e, const char *dir, const model_spec_t *m, const train_hp_t *hp,
              unsigned f, int epoch, size_t iter, char *msg, size_t msglen)
{
    int me = ctx ? spin_ctx_party(ctx) : 0;
    char path[4096], prev[4096], tmp[4200];
    ckpt_path(path, sizeof path, dir, me, 0, !ctx);
    ckpt_path(prev, sizeof prev, dir, me, 1, !ctx);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ckpt_hdr_t h;
    fill_hdr(&h, ctx, m, hp, f);
    h.epoch = (uint64_t)epoch;
    h.iter = iter;
    FILE *fp = open_private(tmp);
    if (!fp) {
        snprintf(msg, msglen, "cannot write checkpoint %s: %s (check --checkpoint DIR)", tmp, strerror(errno));
        return SPIN_ERR_IO;
    }
    int rc = fwrite(&h, sizeof h, 1, fp) == 1 ? 0 : SPIN_ERR_IO;
    if (!rc) rc = e->save(e, fp) ? SPIN_ERR_IO : 0;
    if (!rc) rc = fwrite("SPINEND1", 8, 1, fp) == 1 ? 0 : SPIN_ERR_IO;
    if (!rc) rc = fflush(fp) == 0 && fsync(fileno(fp)) == 0 ? 0 : SPIN_ERR_IO;
    if (fclose(fp) != 0 && !rc) rc = SPIN_ERR_IO;
    if (!rc && access(path, F_OK) == 0 && rename(path, prev) != 0) rc = SPIN_ERR_IO;
    if (!rc && rename(tmp, path) != 0) rc = SPIN_ERR_IO;
    if (rc) {
        snprintf(msg, msglen, "writing checkpoint %s failed: %s (disk full?)", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

/* Position key of a valid, complete checkpoint file matching this run; -1
 * if absent or unusable (why in msg). */
static double probe(const char *path, const ckpt_hdr_t *want, char *why, size_t len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    ckpt_hdr_t h;
    double key = -1;
    if (fread(&h, sizeof h, 1, fp) != 1 || memcmp(h.magic, "SPINCKP1", 8)) {
        snprintf(why, len, "%s is not a spin-train checkpoint (or is truncated)", path);
    } else if (strncmp(h.model, want->model, sizeof h.model) || h.nparties != want->nparties ||
               h.party != want->party || h.frac_bits != want->frac_bits || h.seed != want->seed ||
               h.batch != want->batch) {
        snprintf(why, len, "%s belongs to another run (model %.16s, %u parties, party %u, f %u, seed %llu, "
                 "batch %llu): resume with the same options", path, h.model, h.nparties, h.party, h.frac_bits,
                 (unsigned long long)h.seed, (unsigned long long)h.batch);
    } else if (h.epoch >= (uint64_t)INT_MAX || h.iter > UINT32_MAX) {
        /* an epoch runs at most 2^32 - 1 batches (an IDX file's count) */
        snprintf(why, len, "%s is damaged: its position (epoch %llu, batch %llu) is out of range", path,
                 (unsigned long long)h.epoch, (unsigned long long)h.iter);
    } else {
        char end[8];
        if (fseek(fp, -8, SEEK_END) != 0 || fread(end, 8, 1, fp) != 1 || memcmp(end, "SPINEND1", 8))
            snprintf(why, len, "%s is incomplete (the run stopped while writing it)", path);
        else
            key = (double)h.epoch * 1e6 + (double)h.iter;
    }
    fclose(fp);
    return key;
}

int ckpt_resume(spin_ctx_t *ctx, engine_t *e, const char *dir, const model_spec_t *m, const train_hp_t *hp,
                unsigned f, int *epoch, size_t *iter, char *msg, size_t msglen)
{
    int me = ctx ? spin_ctx_party(ctx) : 0, N = ctx ? spin_ctx_nparties(ctx) : 1;
    ckpt_hdr_t want;
    fill_hdr(&want, ctx, m, hp, f);
    char paths[2][4096], why[2][1200];
    double mine[2];
    for (int g = 0; g < 2; g++) {
        ckpt_path(paths[g], sizeof paths[g], dir, me, g, !ctx);
        mine[g] = probe(paths[g], &want, why[g], sizeof why[g]);
    }
    /* every party's two keys, revealed to all */
    double keys[64][2];
    int rc = 0;
    for (int p = 0; p < N && !rc; p++) {
        if (!ctx) {
            keys[0][0] = mine[0];
            keys[0][1] = mine[1];
            break;
        }
        size_t two = 2;
        spin_tensor_t *t = NULL;
        rc = spin_input_f64(ctx, p, p == me ? mine : NULL, 1, &two, &t);
        if (!rc) rc = spin_reveal_f64(ctx, t, -1, keys[p]);
        spin_tensor_free(t);
    }
    if (rc) {
        snprintf(msg, msglen, "agreeing on a checkpoint failed: %s", spin_strerror(rc));
        return rc;
    }
    double best = -1;
    for (int g = 0; g < 2; g++) {
        double k = keys[0][g];
        if (k < 0) continue;
        int all = 1;
        for (int p = 1; p < N; p++)
            if (fabs(keys[p][0] - k) > 0.25 && fabs(keys[p][1] - k) > 0.25) all = 0;
        if (all && k > best) best = k;
    }
    if (best < 0) {
        snprintf(msg, msglen, "no checkpoint in %s that every party has (%s; %s): start without --resume", dir,
                 why[0][0] ? why[0] : paths[0], why[1][0] ? why[1] : paths[1]);
        return SPIN_ERR_IO;
    }
    int g = fabs(mine[0] - best) <= 0.25 ? 0 : 1;
    FILE *fp = fopen(paths[g], "rb");
    ckpt_hdr_t h;
    rc = fp && fread(&h, sizeof h, 1, fp) == 1 ? 0 : SPIN_ERR_IO;
    if (!rc) rc = e->load(e, fp) ? SPIN_ERR_IO : 0;
    if (fp) fclose(fp);
    if (rc) {
        snprintf(msg, msglen, "reading checkpoint %s failed", paths[g]);
        return rc;
    }
    *epoch = (int)h.epoch;
    *iter = (size_t)h.iter;
    return 0;
}

int export_model(spin_ctx_t *ctx, engine_t *e, const model_spec_t *m, int to, const char *path, char *msg,
                 size_t msglen)
{
    int me = ctx ? spin_ctx_party(ctx) : 0;
    if (ctx && (to < 0 || to >= spin_ctx_nparties(ctx))) {
        snprintf(msg, msglen, "--export-to %d: no such party (0..%d)", to, spin_ctx_nparties(ctx) - 1);
        return SPIN_ERR_INVAL;
    }
    if (!ctx) to = 0;
    /* BatchNorm: w[i] holds gamma then running_mean, b[i] beta then
     * running_var (the engines' export_params fill them so) */
    double *w[MODEL_MAX_LAYERS] = {0}, *b[MODEL_MAX_LAYERS] = {0};
    st_tensor_t t[4 * MODEL_MAX_LAYERS];
    int n = 0, rc = 0;
    for (int i = 0; i < m->nl && !rc; i++) {
        const layer_spec_t *l = &m->L[i];
        if (!layer_has_params(l)) continue;
        int st = layer_has_stats(l);
        size_t nw = layer_wsize(l), nb = layer_bsize(l);
        w[i] = calloc(nw + (st ? nb : 0), 8);
        b[i] = calloc(nb + (st ? nb : 0), 8);
        if (!w[i] || !b[i]) {
            rc = SPIN_ERR_NOMEM;
            break;
        }
        snprintf(t[n].name, sizeof t[n].name, "%s.weight", l->name);
        t[n].nd = layer_wshape(l, t[n].shape);
        t[n++].data = w[i];
        snprintf(t[n].name, sizeof t[n].name, "%s.bias", l->name);
        t[n].nd = 1;
        t[n].shape[0] = nb;
        t[n++].data = b[i];
        if (st) {
            snprintf(t[n].name, sizeof t[n].name, "%s.running_mean", l->name);
            t[n].nd = 1;
            t[n].shape[0] = nb;
            t[n++].data = w[i] + nw;
            snprintf(t[n].name, sizeof t[n].name, "%s.running_var", l->name);
            t[n].nd = 1;
            t[n].shape[0] = nb;
            t[n++].data = b[i] + nb;
        }
    }
    if (!rc) rc = e->export_params(e, to, w, b);
    if (rc) snprintf(msg, msglen, "revealing the model to party %d failed: %s", to, spin_strerror(rc));
    if (!rc && me == to) rc = safetensors_write(path, t, n, msg, msglen);
    for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
        free(w[i]);
        free(b[i]);
    }
    return rc;
}
