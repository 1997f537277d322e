/* train_model.c - layer lists of the known networks (see train_model.h).
 *
 * Adaptations to 1x28x28 input (Fashion-MNIST), documented in
 * apps/README.md:
 *  - LeNet as in the project's target table (TARGETS.md, kept beside the
 *    repository), with each ReLU moved after its max-pool
 *    (max-pool and ReLU commute exactly; the ReLU then compares 4x fewer
 *    values), and the ReLU after Flatten dropped (its input is already
 *    non-negative).
 *  - Everywhere a max-pool follows a ReLU, the two are swapped (exact), and
 *    a conv directly followed by a max-pool is truncated after the pool.
 *  - AlexNet and VGG16 follow the CIFAR-10 variants Piranha trains, with 1
 *    input channel, and with the first stride and the pooling adjusted so
 *    that 28x28 reaches the classifier at the size the CIFAR variant does
 *    (see model_build).  AlexNet has Piranha's two BatchNorm2d layers (after
 *    the first two conv + pool + ReLU blocks); VGG16 has none. */
#include "config.h"

#include "train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

double train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t train_rand64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void train_permutation(uint64_t seed, size_t n, size_t *perm)
{
    uint64_t s = seed ^ UINT64_C(0x5350494E42415443);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(train_rand64(&s) % i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

size_t shape_elems(int nd, const size_t *s)
{
    size_t e = 1;
    for (int i = 0; i < nd; i++) e *= s[i];
    return e;
}

int layer_has_params(const layer_spec_t *l)
{
    return l->kind == L_CONV || l->kind == L_LINEAR || l->kind == L_BN;
}

int layer_has_stats(const layer_spec_t *l)
{
    return l->kind == L_BN;
}

size_t layer_wsize(const layer_spec_t *l)
{
    if (l->kind == L_CONV) return l->out_c * l->in_c * l->k * l->k;
    if (l->kind == L_LINEAR) return l->out_c * l->in_c;
    if (l->kind == L_BN) return l->in_c;
    return 0;
}

size_t layer_bsize(const layer_spec_t *l)
{
    return layer_has_params(l) ? l->out_c : 0;
}

int layer_wshape(const layer_spec_t *l, size_t shape[4])
{
    shape[0] = l->out_c;
    if (l->kind == L_BN) return 1;
    shape[1] = l->in_c;
    if (l->kind == L_LINEAR) return 2;
    shape[2] = shape[3] = l->k;
    return 4;
}

/* ---- building ------------------------------------------------------------ */

typedef struct builder {
    model_spec_t *m;
    int nd;
    size_t s[3];
    int nconv, nfc, nbn, err;
    char *msg;
    size_t msglen;
} builder_t;

static layer_spec_t *add(builder_t *b, lkind_t kind)
{
    if (b->err) return NULL;
    if (b->m->nl >= MODEL_MAX_LAYERS) {
        snprintf(b->msg, b->msglen, "model %s has too many layers", b->m->name);
        b->err = 1;
        return NULL;
    }
    layer_spec_t *l = &b->m->L[b->m->nl++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->in_nd = b->nd;
    memcpy(l->in, b->s, sizeof b->s);
    return l;
}

static void done(builder_t *b, layer_spec_t *l)
{
    b->nd = l->out_nd;
    memcpy(b->s, l->out, sizeof b->s);
}

static void conv(builder_t *b, size_t oc, size_t k, size_t stride, size_t pad)
{
    layer_spec_t *l = add(b, L_CONV);
    if (!l) return;
    if (b->nd != 3 || b->s[1] + 2 * pad < k || b->s[2] + 2 * pad < k) {
        snprintf(b->msg, b->msglen, "model %s: conv%d does not fit its input", b->m->name, b->nconv + 1);
        b->err = 1;
        return;
    }
    snprintf(l->name, sizeof l->name, "conv%d", ++b->nconv);
    l->in_c = b->s[0];
    l->out_c = oc;
    l->k = k;
    l->stride = stride;
    l->pad = pad;
    l->out_nd = 3;
    l->out[0] = oc;
    l->out[1] = (b->s[1] + 2 * pad - k) / stride + 1;
    l->out[2] = (b->s[2] + 2 * pad - k) / stride + 1;
    done(b, l);
}

static void pool(builder_t *b, lkind_t kind, size_t k, size_t stride, size_t pad)
{
    layer_spec_t *l = add(b, kind);
    if (!l) return;
    if (b->nd != 3 || b->s[1] + 2 * pad < k) {
        snprintf(b->msg, b->msglen, "model %s: a pooling layer does not fit its input", b->m->name);
        b->err = 1;
        return;
    }
    snprintf(l->name, sizeof l->name, "%s%d", kind == L_MAXPOOL ? "maxpool" : "avgpool", b->m->nl);
    l->k = k;
    l->stride = stride;
    l->pad = pad;
    l->out_nd = 3;
    l->out[0] = b->s[0];
    l->out[1] = (b->s[1] + 2 * pad - k) / stride + 1;
    l->out[2] = (b->s[2] + 2 * pad - k) / stride + 1;
    done(b, l);
}

static void relu(builder_t *b)
{
    layer_spec_t *l = add(b, L_RELU);
    if (!l) return;
    snprintf(l->name, sizeof l->name, "relu%d", b->m->nl);
    l->out_nd = b->nd;
    memcpy(l->out, b->s, sizeof b->s);
    done(b, l);
}

static void bn(builder_t *b)
{
    layer_spec_t *l = add(b, L_BN);
    if (!l) return;
    if (b->nd != 3) {
        snprintf(b->msg, b->msglen, "model %s: bn%d needs a [c][h][w] input", b->m->name, b->nbn + 1);
        b->err = 1;
        return;
    }
    snprintf(l->name, sizeof l->name, "bn%d", ++b->nbn);
    l->in_c = l->out_c = b->s[0];
    l->out_nd = b->nd;
    memcpy(l->out, b->s, sizeof b->s);
    done(b, l);
}

static void flatten(builder_t *b)
{
    layer_spec_t *l = add(b, L_FLATTEN);
    if (!l) return;
    snprintf(l->name, sizeof l->name, "flatten");
    l->out_nd = 1;
    l->out[0] = shape_elems(b->nd, b->s);
    done(b, l);
}

static void fc(builder_t *b, size_t out)
{
    layer_spec_t *l = add(b, L_LINEAR);
    if (!l) return;
    if (b->nd != 1) {
        snprintf(b->msg, b->msglen, "model %s: fc%d needs a flat input", b->m->name, b->nfc + 1);
        b->err = 1;
        return;
    }
    snprintf(l->name, sizeof l->name, "fc%d", ++b->nfc);
    l->in_c = b->s[0];
    l->out_c = out;
    l->out_nd = 1;
    l->out[0] = out;
    done(b, l);
}

const char *model_names(void)
{
    return "secureml, lenet, alexnet, vgg16";
}

int model_build(const char *name, model_spec_t *m, char *msg, size_t msglen)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name ? name : "");
    m->classes = 10;
    builder_t b = {m, 3, {1, 28, 28}, 0, 0, 0, 0, msg, msglen};
    if (msg && msglen) msg[0] = 0;
    if (!name) name = "";
    if (strcmp(name, "secureml") == 0) {
        /* SecureML: 784-128-128-10 with ReLU */
        flatten(&b);
        fc(&b, 128);
        relu(&b);
        fc(&b, 128);
        relu(&b);
        fc(&b, 10);
    } else if (strcmp(name, "lenet") == 0) {
        conv(&b, 20, 5, 1, 0);
        pool(&b, L_MAXPOOL, 2, 2, 0);
        relu(&b);
        conv(&b, 50, 5, 1, 0);
        pool(&b, L_MAXPOOL, 2, 2, 0);
        relu(&b);
        flatten(&b);
        fc(&b, 500);
        relu(&b);
        fc(&b, 10);
    } else if (strcmp(name, "alexnet") == 0) {
        /* Piranha's CIFAR-10 AlexNet: conv 11x11/4 pad 9 on 32x32 gives
         * 8x8; here 5x5/1 pad 2 on 28x28 then a 3x3/2 pool gives 13x13 ->
         * the rest as Piranha, with its BatchNorm after the first two
         * conv -> pool -> ReLU blocks. */
        conv(&b, 96, 5, 1, 2);
        pool(&b, L_MAXPOOL, 3, 2, 0);
        relu(&b);
        bn(&b);
        conv(&b, 256, 5, 1, 1);
        pool(&b, L_MAXPOOL, 3, 2, 0);
        relu(&b);
        bn(&b);
        conv(&b, 384, 3, 1, 1);
        relu(&b);
        conv(&b, 384, 3, 1, 1);
        relu(&b);
        conv(&b, 256, 3, 1, 1);
        relu(&b);
        flatten(&b);
        fc(&b, 256);
        relu(&b);
        fc(&b, 256);
        relu(&b);
        fc(&b, 10);
    } else if (strcmp(name, "vgg16") == 0) {
        /* VGG16 for CIFAR-10 (13 3x3 convs, 5 pools, 3 FC), 28x28 input:
         * the pools halve 28 -> 14 -> 7 -> 3 -> 1, the last one dropped. */
        static const size_t cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512};
        size_t ncfg = sizeof cfg / sizeof cfg[0];
        for (size_t i = 0; i < ncfg; i++) {
            if (cfg[i] == 0) continue;
            conv(&b, cfg[i], 3, 1, 1);
            /* a pool that follows moves before the ReLU (they commute) */
            if (i + 1 < ncfg && cfg[i + 1] == 0) pool(&b, L_MAXPOOL, 2, 2, 0);
            relu(&b);
        }
        flatten(&b);
        fc(&b, 256);
        relu(&b);
        fc(&b, 256);
        relu(&b);
        fc(&b, 10);
    } else {
        snprintf(msg, msglen, "unknown model \"%s\" (known: %s)", name, model_names());
        return -1;
    }
    return b.err ? -1 : 0;
}

void model_init(const model_spec_t *m, uint64_t seed, double **w, double **b)
{
    uint64_t s = seed;
    for (int i = 0; i < m->nl; i++) {
        const layer_spec_t *l = &m->L[i];
        if (!layer_has_params(l)) continue;
        if (l->kind == L_BN) {
            for (size_t j = 0; j < l->in_c; j++) {
                w[i][j] = 1.0;
                b[i][j] = 0.0;
            }
            continue;
        }
        size_t fan_in = l->kind == L_CONV ? l->in_c * l->k * l->k : l->in_c;
        double bound = 1.0 / sqrt((double)fan_in);
        size_t nw = layer_wsize(l), nb = layer_bsize(l);
        for (size_t j = 0; j < nw; j++)
            w[i][j] = bound * (2.0 * ((double)(train_rand64(&s) >> 11) / 9007199254740992.0) - 1.0);
        for (size_t j = 0; j < nb; j++)
            b[i][j] = bound * (2.0 * ((double)(train_rand64(&s) >> 11) / 9007199254740992.0) - 1.0);
    }
}
