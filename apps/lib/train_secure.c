/* train_secure.c - the secure training engine of spin-train: every layer's
 * forward and backward pass over the MPC protocols, softmax cross-entropy
 * and SGD without revealing anything but what the caller asks for (the
 * mean loss every few iterations and the test predictions, to the data
 * owner, party 0).
 *
 * Party 0 owns the data and inputs the initial weights (PyTorch's default
 * initialisation from the public --seed, so that --plaintext starts from
 * the same weights); after the first step the weights depend on the
 * secret data and stay shared.  BatchNorm's running statistics (public
 * initial values 0 and 1) are updated securely by every training step and
 * stay shared too; prediction uses them. */
#include "config.h"

#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <spin/functions.h>
#include <spin/nn.h>
#include <spin/reduce.h>

typedef struct secure {
    spin_ctx_t *ctx;
    spin_tensor_t *w[MODEL_MAX_LAYERS], *b[MODEL_MAX_LAYERS];
    spin_tensor_t *vw[MODEL_MAX_LAYERS], *vb[MODEL_MAX_LAYERS];
    spin_tensor_t *in[MODEL_MAX_LAYERS];     /* layer inputs kept for backward */
    spin_tensor_t *mask[MODEL_MAX_LAYERS];   /* relu / maxpool masks */
    spin_tensor_t *rm[MODEL_MAX_LAYERS], *rv[MODEL_MAX_LAYERS];   /* BatchNorm running statistics */
    spin_bn_cache_t *bn[MODEL_MAX_LAYERS];   /* BatchNorm forward state for backward */
} secure_t;

static uint64_t sent_now(spin_ctx_t *ctx)
{
    spin_comm_stats_t s;
    return spin_ctx_stats(ctx, -1, &s) ? 0 : s.bytes_sent;
}

static void drop_cache(secure_t *s, int nl)
{
    for (int i = 0; i < nl; i++) {
        spin_tensor_free(s->in[i]);
        spin_tensor_free(s->mask[i]);
        spin_bn_cache_free(s->bn[i]);
        s->in[i] = s->mask[i] = NULL;
        s->bn[i] = NULL;
    }
}

static void conv_params(const layer_spec_t *l, spin_conv2d_params_t *p)
{
    p->stride_h = p->stride_w = l->stride;
    p->pad_h = p->pad_w = l->pad;
}

static void pool_params(const layer_spec_t *l, spin_pool2d_params_t *p)
{
    p->kernel_h = p->kernel_w = l->k;
    p->stride_h = p->stride_w = l->stride;
    p->pad_h = p->pad_w = l->pad;
}

/* Forward through every layer; *out gets the logits.  With keep, layer
 * inputs and masks stay cached for backward. */
static int forward(engine_t *e, spin_tensor_t *x, size_t B, int keep, spin_tensor_t **out)
{
    secure_t *s = e->st;
    spin_ctx_t *ctx = s->ctx;
    const model_spec_t *m = e->m;
    spin_tensor_t *cur = x;
    int rc = 0;
    for (int i = 0; i < m->nl && !rc; i++) {
        const layer_spec_t *l = &m->L[i];
        spin_tensor_t *y = NULL, *mask = NULL;
        int fused = 0;
        double t0 = train_now();
        uint64_t b0 = sent_now(ctx);
        switch (l->kind) {
        case L_CONV: {
            spin_conv2d_params_t p;
            conv_params(l, &p);
            if (i + 1 < m->nl && m->L[i + 1].kind == L_MAXPOOL) {
                /* conv + max-pool fused: one truncation, after the pool */
                spin_pool2d_params_t pp;
                pool_params(&m->L[i + 1], &pp);
                rc = spin_conv2d_maxpool(ctx, cur, s->w[i], s->b[i], &p, &pp, &y, keep ? &s->mask[i + 1] : NULL);
                fused = 1;
            } else {
                rc = spin_conv2d_bias(ctx, cur, s->w[i], s->b[i], &p, &y);
            }
            break;
        }
        case L_LINEAR:
            rc = spin_linear(ctx, cur, s->w[i], s->b[i], &y);
            break;
        case L_RELU:
            rc = keep ? spin_relu_forward(ctx, cur, &y, &mask) : spin_relu(ctx, cur, &y, NULL);
            break;
        case L_MAXPOOL: {
            spin_pool2d_params_t p;
            pool_params(l, &p);
            rc = spin_maxpool2d(ctx, cur, &p, &y, keep ? &mask : NULL);
            break;
        }
        case L_AVGPOOL: {
            spin_pool2d_params_t p;
            pool_params(l, &p);
            rc = spin_avgpool2d(ctx, cur, &p, &y);
            break;
        }
        case L_FLATTEN: {
            size_t sh[2] = {B, shape_elems(l->out_nd, l->out)};
            rc = spin_tensor_reshape(cur, 2, sh, &y);
            break;
        }
        case L_BN:
            /* training: batch statistics, running statistics updated;
             * prediction: the running statistics */
            rc = keep ? spin_batchnorm2d_forward(ctx, cur, s->w[i], s->b[i], s->rm[i], s->rv[i], BN_MOMENTUM, BN_EPS,
                                                 &y, &s->bn[i])
                      : spin_batchnorm2d_eval(ctx, cur, s->w[i], s->b[i], s->rm[i], s->rv[i], BN_EPS, &y);
            break;
        }
        e->stats[i].fwd_s += train_now() - t0;
        e->stats[i].fwd_bytes += sent_now(ctx) - b0;
        if (keep) {
            s->in[i] = cur;   /* keep the reference */
            if (mask) s->mask[i] = mask;
        } else if (cur != x) {
            spin_tensor_free(cur);
        }
        cur = rc ? NULL : y;
        if (fused) i++;   /* the pool ran with the conv */
    }
    if (rc) {
        if (!keep && cur && cur != x) spin_tensor_free(cur);
        return rc;
    }
    *out = cur;
    return 0;
}

static int input_batch(engine_t *e, const double *x, size_t B, spin_tensor_t **t)
{
    secure_t *s = e->st;
    const layer_spec_t *l0 = &e->m->L[0];
    size_t sh[4] = {B, l0->in[0], l0->in[1], l0->in[2]};
    return spin_input_f64(s->ctx, 0, spin_ctx_party(s->ctx) == 0 ? x : NULL, 4, sh, t);
}

static int s_step(engine_t *e, const double *x, const uint8_t *labels, size_t B, int want_loss, double *loss)
{
    secure_t *s = e->st;
    spin_ctx_t *ctx = s->ctx;
    const model_spec_t *m = e->m;
    int me = spin_ctx_party(ctx);
    size_t K = m->classes;
    spin_tensor_t *xt = NULL, *oh = NULL, *z = NULL, *g = NULL, *lt = NULL;
    double *ohv = NULL;
    int rc = input_batch(e, x, B, &xt);
    if (!rc && me == 0) {
        ohv = calloc(B * K, sizeof *ohv);
        if (!ohv) rc = SPIN_ERR_NOMEM;
        for (size_t r = 0; r < B && !rc; r++) ohv[r * K + labels[r]] = 1.0;
    }
    size_t osh[2] = {B, K};
    if (!rc) rc = spin_input_f64(ctx, 0, ohv, 2, osh, &oh);
    free(ohv);
    if (!rc) {
        rc = forward(e, xt, B, 1, &z);
        xt = NULL; /* now the cached input of layer 0 */
    }
    if (!rc) rc = spin_softmax_xent(ctx, z, oh, &g, want_loss ? &lt : NULL, NULL);
    if (loss) *loss = NAN;
    if (!rc && want_loss) {
        double v;
        rc = spin_reveal_f64(ctx, lt, 0, &v);
        if (!rc && me == 0 && loss) *loss = v;
    }
    spin_tensor_free(z);
    spin_tensor_free(oh);
    spin_tensor_free(lt);
    /* backward */
    spin_tensor_t *gw[MODEL_MAX_LAYERS] = {0}, *gb[MODEL_MAX_LAYERS] = {0};
    for (int i = m->nl - 1; i >= 0 && !rc; i--) {
        const layer_spec_t *l = &m->L[i];
        spin_tensor_t *dx = NULL;
        double t0 = train_now();
        uint64_t b0 = sent_now(ctx);
        switch (l->kind) {
        case L_CONV: {
            spin_conv2d_params_t p;
            conv_params(l, &p);
            rc = spin_conv2d_backward(ctx, s->in[i], s->w[i], g, &p, i > 0 ? &dx : NULL, &gw[i], &gb[i]);
            break;
        }
        case L_LINEAR:
            rc = spin_linear_backward(ctx, s->in[i], s->w[i], g, i > 0 ? &dx : NULL, &gw[i], &gb[i]);
            break;
        case L_RELU:
            if (i > 0) rc = spin_relu_backward(ctx, s->mask[i], g, &dx);
            break;
        case L_MAXPOOL:
        case L_AVGPOOL: {
            spin_pool2d_params_t p;
            pool_params(l, &p);
            /* the input shape from the spec: a pool fused with its conv
             * kept no input tensor */
            size_t x4[4] = {B, l->in[0], l->in[1], l->in[2]};
            if (i > 0)
                rc = l->kind == L_MAXPOOL ? spin_maxpool2d_backward(ctx, g, s->mask[i], &p, x4, &dx)
                                          : spin_avgpool2d_backward(ctx, g, &p, x4, &dx);
            break;
        }
        case L_FLATTEN:
            if (i > 0) {
                size_t x4[4] = {B, l->in[0], l->in[1], l->in[2]};
                rc = spin_tensor_reshape(g, 1 + l->in_nd, x4, &dx);
            }
            break;
        case L_BN:
            rc = spin_batchnorm2d_backward(ctx, s->bn[i], g, i > 0 ? &dx : NULL, &gw[i], &gb[i]);
            break;
        }
        e->stats[i].bwd_s += train_now() - t0;
        e->stats[i].bwd_bytes += sent_now(ctx) - b0;
        spin_tensor_free(g);
        g = dx;
    }
    spin_tensor_free(g);
    drop_cache(s, m->nl);
    /* SGD for every parameter at once */
    if (!rc) {
        spin_tensor_t *P[2 * MODEL_MAX_LAYERS], *G[2 * MODEL_MAX_LAYERS], *V[2 * MODEL_MAX_LAYERS];
        int np = 0;
        for (int i = 0; i < m->nl; i++) {
            if (!layer_has_params(&m->L[i])) continue;
            P[np] = s->w[i]; G[np] = gw[i]; V[np++] = s->vw[i];
            P[np] = s->b[i]; G[np] = gb[i]; V[np++] = s->vb[i];
        }
        rc = spin_sgd_step(ctx, P, G, V, np, e->hp.lr, e->hp.momentum, e->hp.weight_decay);
    }
    for (int i = 0; i < m->nl; i++) {
        spin_tensor_free(gw[i]);
        spin_tensor_free(gb[i]);
    }
    spin_tensor_free(xt);
    return rc;
}

static int s_predict(engine_t *e, const double *x, size_t B, int *pred)
{
    secure_t *s = e->st;
    spin_ctx_t *ctx = s->ctx;
    size_t K = e->m->classes;
    spin_tensor_t *xt = NULL, *z = NULL, *mx = NULL, *am = NULL;
    int rc = input_batch(e, x, B, &xt);
    if (!rc) rc = forward(e, xt, B, 0, &z);
    if (!rc) rc = spin_max(ctx, z, 1, &mx, &am);
    double *oh = NULL;
    if (!rc) {
        oh = malloc(B * K * sizeof *oh);
        if (!oh) rc = SPIN_ERR_NOMEM;
    }
    /* only the one-hot of the predicted class reaches the data owner */
    if (!rc) rc = spin_reveal_f64(ctx, am, 0, oh);
    if (!rc && spin_ctx_party(ctx) == 0)
        for (size_t r = 0; r < B; r++) {
            pred[r] = 0;
            for (size_t c = 0; c < K; c++)
                if (oh[r * K + c] > 0.5) pred[r] = (int)c;
        }
    free(oh);
    spin_tensor_free(xt);
    spin_tensor_free(z);
    spin_tensor_free(mx);
    spin_tensor_free(am);
    return rc;
}

static int for_each_state(engine_t *e, int (*fn)(secure_t *s, spin_tensor_t **t, int nd, const size_t *sh, void *arg),
                          void *arg)
{
    secure_t *s = e->st;
    for (int i = 0; i < e->m->nl; i++) {
        const layer_spec_t *l = &e->m->L[i];
        if (!layer_has_params(l)) continue;
        size_t ws[4], bs[1] = {layer_bsize(l)};
        int wn = layer_wshape(l, ws);
        int rc = fn(s, &s->w[i], wn, ws, arg);
        if (!rc) rc = fn(s, &s->b[i], 1, bs, arg);
        if (!rc) rc = fn(s, &s->vw[i], wn, ws, arg);
        if (!rc) rc = fn(s, &s->vb[i], 1, bs, arg);
        if (!rc && layer_has_stats(l)) rc = fn(s, &s->rm[i], 1, bs, arg);
        if (!rc && layer_has_stats(l)) rc = fn(s, &s->rv[i], 1, bs, arg);
        if (rc) return rc;
    }
    return 0;
}

static int save_one(secure_t *s, spin_tensor_t **t, int nd, const size_t *sh, void *arg)
{
    size_t n = shape_elems(nd, sh);
    uint64_t *buf = malloc(n * 8);
    if (!buf) return SPIN_ERR_NOMEM;
    int rc = spin_share_export(s->ctx, *t, buf);
    if (!rc && fwrite(buf, 8, n, (FILE *)arg) != n) rc = SPIN_ERR_IO;
    free(buf);
    return rc;
}

static int load_one(secure_t *s, spin_tensor_t **t, int nd, const size_t *sh, void *arg)
{
    size_t n = shape_elems(nd, sh);
    uint64_t *buf = malloc(n * 8);
    if (!buf) return SPIN_ERR_NOMEM;
    int rc = fread(buf, 8, n, (FILE *)arg) == n ? 0 : SPIN_ERR_IO;
    spin_tensor_t *nt = NULL;
    if (!rc) rc = spin_share_import(s->ctx, buf, nd, sh, &nt);
    free(buf);
    if (!rc) {
        spin_tensor_free(*t);
        *t = nt;
    }
    return rc;
}

static int s_save(engine_t *e, FILE *f) { return for_each_state(e, save_one, f); }
static int s_load(engine_t *e, FILE *f) { return for_each_state(e, load_one, f); }

/* BatchNorm: w[i] holds gamma then running_mean, b[i] beta then
 * running_var (train_io.c sizes them so). */
static int s_export(engine_t *e, int to, double **w, double **b)
{
    secure_t *s = e->st;
    int me = spin_ctx_party(s->ctx);
    for (int i = 0; i < e->m->nl; i++) {
        const layer_spec_t *l = &e->m->L[i];
        if (!layer_has_params(l)) continue;
        size_t nw = layer_wsize(l), nb = layer_bsize(l);
        int rc = spin_reveal_f64(s->ctx, s->w[i], to, me == to ? w[i] : NULL);
        if (!rc) rc = spin_reveal_f64(s->ctx, s->b[i], to, me == to ? b[i] : NULL);
        if (!rc && layer_has_stats(l)) rc = spin_reveal_f64(s->ctx, s->rm[i], to, me == to ? w[i] + nw : NULL);
        if (!rc && layer_has_stats(l)) rc = spin_reveal_f64(s->ctx, s->rv[i], to, me == to ? b[i] + nb : NULL);
        if (rc) return rc;
    }
    return 0;
}

static uint64_t s_bytes(engine_t *e)
{
    secure_t *s = e->st;
    return sent_now(s->ctx);
}

static void s_destroy(engine_t *e)
{
    if (!e) return;
    secure_t *s = e->st;
    if (s) {
        drop_cache(s, e->m->nl);
        for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
            spin_tensor_free(s->w[i]);
            spin_tensor_free(s->b[i]);
            spin_tensor_free(s->vw[i]);
            spin_tensor_free(s->vb[i]);
            spin_tensor_free(s->rm[i]);
            spin_tensor_free(s->rv[i]);
        }
        free(s);
    }
    free(e);
}

engine_t *train_secure_new(spin_ctx_t *ctx, const model_spec_t *m, const train_hp_t *hp, char *msg, size_t msglen)
{
    engine_t *e = calloc(1, sizeof *e);
    secure_t *s = calloc(1, sizeof *s);
    double *w[MODEL_MAX_LAYERS] = {0}, *b[MODEL_MAX_LAYERS] = {0};
    int rc = e && s ? 0 : SPIN_ERR_NOMEM;
    if (rc) {
        free(e);
        free(s);
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    e->m = m;
    e->hp = *hp;
    e->st = s;
    e->step = s_step;
    e->predict = s_predict;
    e->save = s_save;
    e->load = s_load;
    e->export_params = s_export;
    e->bytes_sent = s_bytes;
    e->destroy = s_destroy;
    s->ctx = ctx;
    int me = spin_ctx_party(ctx);
    for (int i = 0; i < m->nl && !rc; i++) {
        const layer_spec_t *l = &m->L[i];
        if (!layer_has_params(l)) continue;
        w[i] = calloc(layer_wsize(l), 8);
        b[i] = calloc(layer_bsize(l), 8);
        if (!w[i] || !b[i]) rc = SPIN_ERR_NOMEM;
    }
    if (!rc && me == 0) model_init(m, hp->seed, w, b);
    for (int i = 0; i < m->nl && !rc; i++) {
        const layer_spec_t *l = &m->L[i];
        if (!layer_has_params(l)) continue;
        size_t ws[4], bs[1] = {layer_bsize(l)};
        int wn = layer_wshape(l, ws);
        rc = spin_input_f64(ctx, 0, me == 0 ? w[i] : NULL, wn, ws, &s->w[i]);
        if (!rc) rc = spin_input_f64(ctx, 0, me == 0 ? b[i] : NULL, 1, bs, &s->b[i]);
        if (!rc) rc = spin_tensor_zeros(ctx, wn, ws, &s->vw[i]);
        if (!rc) rc = spin_tensor_zeros(ctx, 1, bs, &s->vb[i]);
        if (!rc && layer_has_stats(l)) {
            /* running_mean 0, running_var 1 (public): party 0's share holds them */
            double *ones = me == 0 ? malloc(bs[0] * sizeof *ones) : NULL;
            if (me == 0 && !ones) rc = SPIN_ERR_NOMEM;
            for (size_t j = 0; !rc && ones && j < bs[0]; j++) ones[j] = 1.0;
            if (!rc) rc = spin_tensor_zeros(ctx, 1, bs, &s->rm[i]);
            if (!rc) rc = spin_input_f64(ctx, 0, ones, 1, bs, &s->rv[i]);
            free(ones);
        }
    }
    for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
        free(w[i]);
        free(b[i]);
    }
    if (rc) {
        snprintf(msg, msglen, "setting up the shared model failed: %s", spin_strerror(rc));
        s_destroy(e);
        return NULL;
    }
    return e;
}
