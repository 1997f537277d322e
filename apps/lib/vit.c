/* vit.c - the Transformer encoder of spin-infer: loading (config.json +
 * safetensors with nn.TransformerEncoderLayer names), the float64 forward
 * pass, and the secure one, over image patches (ViT) or token ids.
 *
 * Images: the CLS token is handled as a zero patch row at token 0: the
 * patch embedding of that row is its bias, so the owner folds cls - pe_b +
 * pos[0] into one additive term tok[0] (tok[t] = pos[t] for the patches)
 * and the whole embedding is one Linear plus one broadcast add.
 *
 * Token ids: the client one-hot encodes them as integer shares (0/1, not
 * fixed point), one matmul without truncation with the shared table
 * tok_embed picks the rows exactly, and tok = pos is added the same way.
 * The CLS token, if any, is the first id of the data (BERT style). */
#include "config.h"

#include "vit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/functions.h>
#include <spin/nn.h>

#include "json.h"
#include "safetensors.h"

/* ---- loading ---------------------------------------------------------------- */

static int cfg_int(const json_t *j, const char *k, int lo, int hi, int *out, char *msg, size_t len, const char *path)
{
    const json_t *v = json_get(j, k);
    if (!v || v->type != JSON_NUM || v->num != floor(v->num) || v->num < lo || v->num > hi) {
        snprintf(msg, len, "%s: \"%s\" must be an integer in %d..%d", path, k, lo, hi);
        return -1;
    }
    *out = (int)v->num;
    return 0;
}

/* The input kind: images ("patch", "image", "channels") or token ids
 * ("vocab", "seq"), exactly one of the two. */
static int cfg_input(const json_t *j, vit_cfg_t *c, char *msg, size_t len, const char *path)
{
    static const char *const img[] = {"patch", "image", "channels"}, *const tok[] = {"vocab", "seq"};
    const char *fi = NULL, *ft = NULL;
    for (int i = 2; i >= 0; i--)
        if (json_get(j, img[i])) fi = img[i];
    for (int i = 1; i >= 0; i--)
        if (json_get(j, tok[i])) ft = tok[i];
    if (fi && ft) {
        snprintf(msg, len, "%s: \"%s\" (an image model) and \"%s\" (a token model) in one config: a model reads "
                           "images (\"patch\", \"image\", \"channels\") or token ids (\"vocab\", \"seq\"), not both",
                 path, fi, ft);
        return -1;
    }
    if (!fi && !ft) {
        snprintf(msg, len, "%s: no input kind: give \"patch\", \"image\" and \"channels\" (an image model) or "
                           "\"vocab\" and \"seq\" (a token model)", path);
        return -1;
    }
    if (ft) {
        int rc = cfg_int(j, "vocab", 1, 1 << 24, &c->vocab, msg, len, path);
        return rc ? rc : cfg_int(j, "seq", 1, 65536, &c->seq, msg, len, path);
    }
    int rc = cfg_int(j, "patch", 1, 64, &c->patch, msg, len, path);
    if (!rc) rc = cfg_int(j, "image", 1, 1024, &c->image, msg, len, path);
    if (!rc) rc = cfg_int(j, "channels", 1, 1, &c->channels, msg, len, path);
    if (!rc && c->image % c->patch) {
        snprintf(msg, len, "%s: image must be a multiple of patch", path);
        rc = -1;
    }
    return rc;
}

int vit_load_config(const char *config, vit_cfg_t *c, char *msg, size_t msglen)
{
    memset(c, 0, sizeof *c);
    FILE *fp = fopen(config, "rb");
    if (!fp) {
        snprintf(msg, msglen, "cannot open the model config %s (pass --config FILE)", config);
        return -1;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, fp) : 0;
    fclose(fp);
    if (!buf) return -1;
    char err[256];
    json_t *j = json_parse(buf, n, err, sizeof err);
    free(buf);
    if (!j || j->type != JSON_OBJ) {
        snprintf(msg, msglen, "%s: %s", config, j ? "not a JSON object" : err);
        json_free(j);
        return -1;
    }
    int rc = cfg_int(j, "layers", 1, 64, &c->layers, msg, msglen, config);
    if (!rc) rc = cfg_int(j, "d_model", 1, 8192, &c->d_model, msg, msglen, config);
    if (!rc) rc = cfg_int(j, "heads", 1, 256, &c->heads, msg, msglen, config);
    if (!rc) rc = cfg_int(j, "ffn", 1, 65536, &c->ffn, msg, msglen, config);
    if (!rc) rc = cfg_input(j, c, msg, msglen, config);
    if (!rc) rc = cfg_int(j, "classes", 2, 100000, &c->classes, msg, msglen, config);
    if (!rc && c->d_model % c->heads) {
        snprintf(msg, msglen, "%s: d_model must be a multiple of heads", config);
        rc = -1;
    }
    const json_t *act = json_get(j, "activation"), *nf = json_get(j, "norm_first"), *pool = json_get(j, "pool"),
                 *eps = json_get(j, "layer_norm_eps"), *norm = json_get(j, "input_normalisation");
    if (!rc && (!act || act->type != JSON_STR || (strcmp(act->str, "gelu") && strcmp(act->str, "relu")))) {
        snprintf(msg, msglen, "%s: \"activation\" must be \"gelu\" or \"relu\"", config);
        rc = -1;
    }
    if (!rc && (!nf || nf->type != JSON_BOOL)) {
        snprintf(msg, msglen, "%s: \"norm_first\" must be true or false", config);
        rc = -1;
    }
    if (!rc && (!pool || pool->type != JSON_STR || (strcmp(pool->str, "cls") && strcmp(pool->str, "mean")))) {
        snprintf(msg, msglen, "%s: \"pool\" must be \"cls\" or \"mean\"", config);
        rc = -1;
    }
    if (!rc) {
        c->gelu = !strcmp(act->str, "gelu");
        c->norm_first = nf->num != 0;
        c->pool_cls = !strcmp(pool->str, "cls");
        c->eps = eps && eps->type == JSON_NUM ? eps->num : 1e-5;
        const json_t *mn = json_get(norm, "mean"), *sd = json_get(norm, "std");
        c->mean = mn && mn->type == JSON_NUM ? mn->num : 0.0;
        c->std = sd && sd->type == JSON_NUM && sd->num > 0 ? sd->num : 1.0;
    }
    json_free(j);
    return rc;
}

void vit_free(vit_t *m)
{
    if (!m) return;
    free(m->pe_w); free(m->pe_b); free(m->cls); free(m->pos); free(m->tok_embed);
    free(m->norm_w); free(m->norm_b); free(m->head_w); free(m->head_b);
    for (int i = 0; m->L && i < m->c.layers; i++) {
        vit_layer_t *l = &m->L[i];
        free(l->in_w); free(l->in_b); free(l->out_w); free(l->out_b); free(l->l1_w); free(l->l1_b);
        free(l->l2_w); free(l->l2_b); free(l->n1_w); free(l->n1_b); free(l->n2_w); free(l->n2_b);
    }
    free(m->L);
    memset(m, 0, sizeof *m);
}

static double *get(const st_file_t *f, const char *name, int nd, size_t a, size_t b, size_t c, int *rc, char *msg,
                   size_t len)
{
    if (*rc) return NULL;
    size_t sh[3] = {a, b, c}, cnt = a * (nd > 1 ? b : 1) * (nd > 2 ? c : 1);
    double *v = malloc(cnt * sizeof *v);
    if (!v || st_get(f, name, nd, sh, v, msg, len)) {
        free(v);
        *rc = -1;
        return NULL;
    }
    return v;
}

int vit_load(const char *config, const char *weights, vit_t *m, char *msg, size_t msglen)
{
    memset(m, 0, sizeof *m);
    if (vit_load_config(config, &m->c, msg, msglen)) return -1;
    st_file_t f;
    if (st_read(weights, &f, msg, msglen)) return -1;
    const vit_cfg_t *c = &m->c;
    size_t d = (size_t)c->d_model, P = (size_t)(c->patch * c->patch * c->channels), F = (size_t)c->ffn;
    m->tokens = c->seq ? c->seq : (c->image / c->patch) * (c->image / c->patch) + 1;
    size_t T = (size_t)m->tokens;
    int rc = 0;
    if (c->vocab) {
        m->tok_embed = get(&f, "tok_embed.weight", 2, (size_t)c->vocab, d, 0, &rc, msg, msglen);
    } else {
        m->pe_w = get(&f, "patch_embed.weight", 2, d, P, 0, &rc, msg, msglen);
        m->pe_b = get(&f, "patch_embed.bias", 1, d, 0, 0, &rc, msg, msglen);
        m->cls = get(&f, "cls_token", 3, 1, 1, d, &rc, msg, msglen);
    }
    m->pos = get(&f, "pos_embed", 3, 1, T, d, &rc, msg, msglen);
    if (c->norm_first) {
        m->norm_w = get(&f, "norm.weight", 1, d, 0, 0, &rc, msg, msglen);
        m->norm_b = get(&f, "norm.bias", 1, d, 0, 0, &rc, msg, msglen);
    }
    m->head_w = get(&f, "head.weight", 2, (size_t)c->classes, d, 0, &rc, msg, msglen);
    m->head_b = get(&f, "head.bias", 1, (size_t)c->classes, 0, 0, &rc, msg, msglen);
    m->L = calloc((size_t)c->layers, sizeof *m->L);
    if (!m->L) rc = -1;
    for (int i = 0; i < c->layers && !rc; i++) {
        vit_layer_t *l = &m->L[i];
        char n[128];
#define G(field, suffix, nd, a, b) (snprintf(n, sizeof n, "layers.%d.%s", i, suffix), l->field = get(&f, n, nd, a, b, 0, &rc, msg, msglen))
        G(in_w, "self_attn.in_proj_weight", 2, 3 * d, d);
        G(in_b, "self_attn.in_proj_bias", 1, 3 * d, 0);
        G(out_w, "self_attn.out_proj.weight", 2, d, d);
        G(out_b, "self_attn.out_proj.bias", 1, d, 0);
        G(l1_w, "linear1.weight", 2, F, d);
        G(l1_b, "linear1.bias", 1, F, 0);
        G(l2_w, "linear2.weight", 2, d, F);
        G(l2_b, "linear2.bias", 1, d, 0);
        G(n1_w, "norm1.weight", 1, d, 0);
        G(n1_b, "norm1.bias", 1, d, 0);
        G(n2_w, "norm2.weight", 1, d, 0);
        G(n2_b, "norm2.bias", 1, d, 0);
#undef G
    }
    st_free(&f);
    if (rc) vit_free(m);
    return rc;
}

void vit_patchify(const vit_cfg_t *c, const uint8_t *img, size_t B, double *rows)
{
    size_t p = (size_t)c->patch, g = (size_t)(c->image / c->patch), S = (size_t)c->image, P = p * p;
    size_t T = g * g + 1;
    for (size_t b = 0; b < B; b++) {
        double *r = rows + b * T * P;
        memset(r, 0, P * sizeof *r);
        for (size_t gi = 0; gi < g; gi++)
            for (size_t gj = 0; gj < g; gj++)
                for (size_t i = 0; i < p; i++)
                    for (size_t j = 0; j < p; j++) {
                        double v = img[b * S * S + (gi * p + i) * S + gj * p + j] / 255.0;
                        r[(1 + gi * g + gj) * P + i * p + j] = (v - c->mean) / c->std;
                    }
    }
}

/* ---- float64 forward ------------------------------------------------------------ */

static void lin(const double *x, size_t R, size_t I, const double *w, const double *b, size_t O, double *y)
{
    for (size_t r = 0; r < R; r++)
        for (size_t o = 0; o < O; o++) {
            double s = b ? b[o] : 0;
            for (size_t i = 0; i < I; i++) s += x[r * I + i] * w[o * I + i];
            y[r * O + o] = s;
        }
}

static void lnorm(const double *x, size_t R, size_t d, const double *g, const double *b, double eps, double *y)
{
    for (size_t r = 0; r < R; r++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < d; i++) m += x[r * d + i];
        m /= (double)d;
        for (size_t i = 0; i < d; i++) v += (x[r * d + i] - m) * (x[r * d + i] - m);
        v /= (double)d;
        for (size_t i = 0; i < d; i++) y[r * d + i] = (x[r * d + i] - m) / sqrt(v + eps) * g[i] + b[i];
    }
}

static void attention_plain(const vit_t *m, const vit_layer_t *l, const double *h, size_t T, double *out)
{
    size_t d = (size_t)m->c.d_model, H = (size_t)m->c.heads, dh = d / H;
    double *qkv = malloc(T * 3 * d * sizeof *qkv), *o = malloc(T * d * sizeof *o), *s = malloc(T * sizeof *s);
    lin(h, T, d, l->in_w, l->in_b, 3 * d, qkv);
    for (size_t hh = 0; hh < H; hh++)
        for (size_t i = 0; i < T; i++) {
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < T; j++) {
                double a = 0;
                for (size_t k = 0; k < dh; k++) a += qkv[i * 3 * d + hh * dh + k] * qkv[j * 3 * d + d + hh * dh + k];
                s[j] = a / sqrt((double)dh);
                mx = fmax(mx, s[j]);
            }
            for (size_t j = 0; j < T; j++) sum += (s[j] = exp(s[j] - mx));
            for (size_t k = 0; k < dh; k++) {
                double a = 0;
                for (size_t j = 0; j < T; j++) a += s[j] / sum * qkv[j * 3 * d + 2 * d + hh * dh + k];
                o[i * d + hh * dh + k] = a;
            }
        }
    lin(o, T, d, l->out_w, l->out_b, d, out);
    free(qkv);
    free(o);
    free(s);
}

static void ffn_plain(const vit_t *m, const vit_layer_t *l, const double *h, size_t T, double *out)
{
    size_t d = (size_t)m->c.d_model, F = (size_t)m->c.ffn;
    double *u = malloc(T * F * sizeof *u);
    lin(h, T, d, l->l1_w, l->l1_b, F, u);
    for (size_t i = 0; i < T * F; i++)
        u[i] = m->c.gelu ? 0.5 * u[i] * (1.0 + erf(u[i] / sqrt(2.0))) : (u[i] > 0 ? u[i] : 0.0);
    lin(u, T, F, l->l2_w, l->l2_b, d, out);
    free(u);
}

/* The encoder layers, the final norm, the pooling and the head on one
 * sequence's token states z [T][d] (overwritten): logits [classes]. */
static int classify_plain(const vit_t *m, double *z, double *logits)
{
    const vit_cfg_t *c = &m->c;
    size_t T = (size_t)m->tokens, d = (size_t)c->d_model;
    double *h = malloc(T * d * sizeof *h), *a = malloc(T * d * sizeof *a), *pool = malloc(d * sizeof *pool);
    if (!h || !a || !pool) {
        free(h); free(a); free(pool);
        return -1;
    }
    for (int li = 0; li < c->layers; li++) {
        const vit_layer_t *l = &m->L[li];
        if (c->norm_first) {
            lnorm(z, T, d, l->n1_w, l->n1_b, c->eps, h);
            attention_plain(m, l, h, T, a);
            for (size_t i = 0; i < T * d; i++) z[i] += a[i];
            lnorm(z, T, d, l->n2_w, l->n2_b, c->eps, h);
            ffn_plain(m, l, h, T, a);
            for (size_t i = 0; i < T * d; i++) z[i] += a[i];
        } else {
            attention_plain(m, l, z, T, a);
            for (size_t i = 0; i < T * d; i++) a[i] += z[i];
            lnorm(a, T, d, l->n1_w, l->n1_b, c->eps, z);
            ffn_plain(m, l, z, T, a);
            for (size_t i = 0; i < T * d; i++) a[i] += z[i];
            lnorm(a, T, d, l->n2_w, l->n2_b, c->eps, z);
        }
    }
    if (c->norm_first) {
        lnorm(z, T, d, m->norm_w, m->norm_b, c->eps, h);
        memcpy(z, h, T * d * sizeof *z);
    }
    for (size_t i = 0; i < d; i++) {
        double s = 0;
        if (c->pool_cls) s = z[i];
        else {
            for (size_t t = 0; t < T; t++) s += z[t * d + i];
            s /= (double)T;
        }
        pool[i] = s;
    }
    lin(pool, 1, d, m->head_w, m->head_b, (size_t)c->classes, logits);
    free(h); free(a); free(pool);
    return 0;
}

int vit_forward_plain(const vit_t *m, const uint8_t *img, size_t B, double *logits)
{
    const vit_cfg_t *c = &m->c;
    size_t T = (size_t)m->tokens, d = (size_t)c->d_model, P = (size_t)(c->patch * c->patch);
    double *rows = malloc(B * T * P * sizeof *rows), *z = malloc(T * d * sizeof *z);
    int rc = rows && z ? 0 : -1;
    if (!rc) vit_patchify(c, img, B, rows);
    for (size_t b = 0; b < B && !rc; b++) {
        lin(rows + b * T * P, T, P, m->pe_w, m->pe_b, d, z);
        for (size_t i = 0; i < d; i++) z[i] = m->cls[i] + m->pos[i];
        for (size_t t = 1; t < T; t++)
            for (size_t i = 0; i < d; i++) z[t * d + i] += m->pos[t * d + i];
        rc = classify_plain(m, z, logits + b * (size_t)c->classes);
    }
    free(rows);
    free(z);
    return rc;
}

int vit_forward_plain_tokens(const vit_t *m, const int32_t *ids, size_t B, double *logits)
{
    const vit_cfg_t *c = &m->c;
    size_t T = (size_t)m->tokens, d = (size_t)c->d_model;
    double *z = malloc(T * d * sizeof *z);
    int rc = z ? 0 : -1;
    for (size_t b = 0; b < B && !rc; b++) {
        for (size_t t = 0; t < T; t++) {
            const double *e = m->tok_embed + (size_t)ids[b * T + t] * d;
            for (size_t i = 0; i < d; i++) z[t * d + i] = e[i] + m->pos[t * d + i];
        }
        rc = classify_plain(m, z, logits + b * (size_t)c->classes);
    }
    free(z);
    return rc;
}

/* ---- sharing the model ------------------------------------------------------------ */

static int share(spin_ctx_t *ctx, int owner, const double *v, int nd, size_t a, size_t b, spin_tensor_t **t)
{
    size_t sh[2] = {a, b};
    return spin_input_f64(ctx, owner, spin_ctx_party(ctx) == owner ? v : NULL, nd, sh, t);
}

void vit_shared_free(vit_shared_t *s)
{
    if (!s) return;
    spin_tensor_free(s->pe_w); spin_tensor_free(s->pe_b); spin_tensor_free(s->tok); spin_tensor_free(s->tok_embed);
    spin_tensor_free(s->norm_w); spin_tensor_free(s->norm_b); spin_tensor_free(s->head_w); spin_tensor_free(s->head_b);
    spin_static_free(s->spe_w); spin_static_free(s->stok_embed); spin_static_free(s->shead_w);
    for (int i = 0; s->L && i < s->c.layers; i++) {
        vit_shared_layer_t *l = &s->L[i];
        spin_static_t *st[] = {l->sq_w, l->sk_w, l->sv_w, l->sin_w, l->sout_w, l->sl1_w, l->sl2_w};
        for (size_t k = 0; k < sizeof st / sizeof st[0]; k++) spin_static_free(st[k]);
        spin_tensor_t *all[] = {l->q_w, l->q_b, l->k_w, l->k_b, l->v_w, l->v_b, l->in_w, l->in_b, l->out_w, l->out_b,
                                l->l1_w, l->l1_b, l->l2_w, l->l2_b, l->n1_w, l->n1_b, l->n2_w, l->n2_b};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) spin_tensor_free(all[k]);
    }
    free(s->L);
    memset(s, 0, sizeof *s);
}

/* Open every weight matrix once against a mask the dealer keeps (one round
 * each); later products with it open only the activations. */
static int make_static(spin_ctx_t *ctx, vit_shared_t *s)
{
    struct { spin_tensor_t *w; spin_static_t **sw; } all[3 + 7 * 64];
    size_t n = 0;
    if (s->c.layers > 64) return SPIN_ERR_INVAL;   /* vit_load_config's limit */
    all[n].w = s->pe_w; all[n++].sw = &s->spe_w;
    all[n].w = s->tok_embed; all[n++].sw = &s->stok_embed;
    all[n].w = s->head_w; all[n++].sw = &s->shead_w;
    for (int i = 0; i < s->c.layers; i++) {
        vit_shared_layer_t *l = &s->L[i];
        all[n].w = l->q_w; all[n++].sw = &l->sq_w;
        all[n].w = l->k_w; all[n++].sw = &l->sk_w;
        all[n].w = l->v_w; all[n++].sw = &l->sv_w;
        all[n].w = l->in_w; all[n++].sw = &l->sin_w;
        all[n].w = l->out_w; all[n++].sw = &l->sout_w;
        all[n].w = l->l1_w; all[n++].sw = &l->sl1_w;
        all[n].w = l->l2_w; all[n++].sw = &l->sl2_w;
    }
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++)
        if (all[k].w) rc = spin_static_new(ctx, all[k].w, all[k].sw);
    return rc;
}

int vit_share(spin_ctx_t *ctx, const vit_t *m, const vit_cfg_t *c, int owner, const vit_opts_t *o, vit_shared_t *s)
{
    memset(s, 0, sizeof *s);
    s->c = *c;
    s->o = *o;
    s->tokens = c->seq ? c->seq : (c->image / c->patch) * (c->image / c->patch) + 1;
    int me = spin_ctx_party(ctx), own = me == owner;
    size_t d = (size_t)c->d_model, T = (size_t)s->tokens, P = (size_t)(c->patch * c->patch), F = (size_t)c->ffn;
    size_t dh = d / (size_t)c->heads;
    double qs = 1.0 / sqrt((double)dh);
    double *tok = NULL, *inw = NULL, *inb = NULL;
    int rc = 0;
    if (own) {
        tok = malloc(T * d * sizeof *tok);
        inw = malloc(3 * d * d * sizeof *inw);
        inb = malloc(3 * d * sizeof *inb);
        if (!tok || !inw || !inb) rc = SPIN_ERR_NOMEM;
        /* images: the CLS row's patch embedding is pe_b, replaced by cls */
        for (size_t i = 0; !rc && i < d; i++) tok[i] = m->pos[i] + (c->vocab ? 0.0 : m->cls[i] - m->pe_b[i]);
        for (size_t i = d; !rc && i < T * d; i++) tok[i] = m->pos[i];
    }
    s->L = calloc((size_t)c->layers, sizeof *s->L);
    if (!s->L) rc = SPIN_ERR_NOMEM;
    if (!rc && c->vocab) rc = share(ctx, owner, own ? m->tok_embed : NULL, 2, (size_t)c->vocab, d, &s->tok_embed);
    if (!rc && !c->vocab) rc = share(ctx, owner, own ? m->pe_w : NULL, 2, d, P, &s->pe_w);
    if (!rc && !c->vocab) rc = share(ctx, owner, own ? m->pe_b : NULL, 1, d, 0, &s->pe_b);
    if (!rc) rc = share(ctx, owner, tok, 1, T * d, 0, &s->tok);
    if (!rc && c->norm_first) rc = share(ctx, owner, own ? m->norm_w : NULL, 1, d, 0, &s->norm_w);
    if (!rc && c->norm_first) rc = share(ctx, owner, own ? m->norm_b : NULL, 1, d, 0, &s->norm_b);
    if (!rc) rc = share(ctx, owner, own ? m->head_w : NULL, 2, (size_t)c->classes, d, &s->head_w);
    if (!rc) rc = share(ctx, owner, own ? m->head_b : NULL, 1, (size_t)c->classes, 0, &s->head_b);
    for (int i = 0; i < c->layers && !rc; i++) {
        const vit_layer_t *l = own ? &m->L[i] : NULL;
        vit_shared_layer_t *t = &s->L[i];
        if (own) {
            /* fold 1/sqrt(d_head) into the Q rows when asked */
            memcpy(inw, l->in_w, 3 * d * d * sizeof *inw);
            memcpy(inb, l->in_b, 3 * d * sizeof *inb);
            if (o->fold_scale) {
                for (size_t k = 0; k < d * d; k++) inw[k] *= qs;
                for (size_t k = 0; k < d; k++) inb[k] *= qs;
            }
        }
        if (o->fused_qkv) {
            rc = share(ctx, owner, inw, 2, 3 * d, d, &t->in_w);
            if (!rc) rc = share(ctx, owner, inb, 1, 3 * d, 0, &t->in_b);
        } else {
            spin_tensor_t **W[3] = {&t->q_w, &t->k_w, &t->v_w}, **Bv[3] = {&t->q_b, &t->k_b, &t->v_b};
            for (int k = 0; k < 3 && !rc; k++) {
                rc = share(ctx, owner, own ? inw + (size_t)k * d * d : NULL, 2, d, d, W[k]);
                if (!rc) rc = share(ctx, owner, own ? inb + (size_t)k * d : NULL, 1, d, 0, Bv[k]);
            }
        }
        if (!rc) rc = share(ctx, owner, own ? l->out_w : NULL, 2, d, d, &t->out_w);
        if (!rc) rc = share(ctx, owner, own ? l->out_b : NULL, 1, d, 0, &t->out_b);
        if (!rc) rc = share(ctx, owner, own ? l->l1_w : NULL, 2, F, d, &t->l1_w);
        if (!rc) rc = share(ctx, owner, own ? l->l1_b : NULL, 1, F, 0, &t->l1_b);
        if (!rc) rc = share(ctx, owner, own ? l->l2_w : NULL, 2, d, F, &t->l2_w);
        if (!rc) rc = share(ctx, owner, own ? l->l2_b : NULL, 1, d, 0, &t->l2_b);
        if (!rc) rc = share(ctx, owner, own ? l->n1_w : NULL, 1, d, 0, &t->n1_w);
        if (!rc) rc = share(ctx, owner, own ? l->n1_b : NULL, 1, d, 0, &t->n1_b);
        if (!rc) rc = share(ctx, owner, own ? l->n2_w : NULL, 1, d, 0, &t->n2_w);
        if (!rc) rc = share(ctx, owner, own ? l->n2_b : NULL, 1, d, 0, &t->n2_b);
    }
    free(tok);
    free(inw);
    free(inb);
    if (!rc && o->static_weights) rc = make_static(ctx, s);
    if (rc) vit_shared_free(s);
    return rc;
}

/* ---- secure forward ------------------------------------------------------------------ */

#define TRY(x) do { if (!rc) rc = (x); } while (0)

/* Linear with the static form of w when the model was shared with it. */
static int linear(spin_ctx_t *ctx, const spin_tensor_t *x, const spin_tensor_t *w, const spin_static_t *sw,
                  const spin_tensor_t *b, spin_tensor_t **y)
{
    return sw ? spin_linear_static(ctx, x, sw, b, y) : spin_linear(ctx, x, w, b, y);
}

/* [B*T, 3d] (or three [B*T, d]) -> q, k, v as [B*H, T, dh] contiguous */
static int heads_split(spin_ctx_t *ctx, const spin_tensor_t *x, size_t B, size_t T, size_t H, size_t dh, int idx,
                       int fused, spin_tensor_t **out)
{
    (void)ctx;
    spin_tensor_t *v5 = NULL, *sl = NULL, *tr = NULL, *ct = NULL;
    size_t sh5[5] = {B, T, fused ? 3 : 1, H, dh}, sh3[3] = {B * H, T, dh};
    int rc = spin_tensor_reshape(x, 5, sh5, &v5);
    TRY(spin_tensor_slice(v5, 2, fused ? (size_t)idx : 0, 1, &sl));     /* [B, T, 1, H, dh] */
    TRY(spin_tensor_transpose(sl, 1, 3, &tr));                           /* [B, H, 1, T, dh] */
    TRY(spin_tensor_contiguous(tr, &ct));
    TRY(spin_tensor_reshape(ct, 3, sh3, out));
    spin_tensor_free(v5);
    spin_tensor_free(sl);
    spin_tensor_free(tr);
    spin_tensor_free(ct);
    return rc;
}

static int attention(spin_ctx_t *ctx, const vit_shared_t *s, const vit_shared_layer_t *l, const spin_tensor_t *h,
                     size_t B, spin_tensor_t **out)
{
    size_t T = (size_t)s->tokens, d = (size_t)s->c.d_model, H = (size_t)s->c.heads, dh = d / H;
    spin_tensor_t *qkv = NULL, *qx = NULL, *kx = NULL, *vx = NULL, *q = NULL, *k = NULL, *v = NULL, *sc = NULL,
                  *sc2 = NULL, *p = NULL, *o = NULL, *o4 = NULL, *ot = NULL, *oc = NULL, *o2 = NULL;
    int rc = 0;
    if (s->o.fused_qkv) {
        TRY(linear(ctx, h, l->in_w, l->sin_w, l->in_b, &qkv));
        TRY(heads_split(ctx, qkv, B, T, H, dh, 0, 1, &q));
        TRY(heads_split(ctx, qkv, B, T, H, dh, 1, 1, &k));
        TRY(heads_split(ctx, qkv, B, T, H, dh, 2, 1, &v));
    } else {
        TRY(linear(ctx, h, l->q_w, l->sq_w, l->q_b, &qx));
        TRY(linear(ctx, h, l->k_w, l->sk_w, l->k_b, &kx));
        TRY(linear(ctx, h, l->v_w, l->sv_w, l->v_b, &vx));
        TRY(heads_split(ctx, qx, B, T, H, dh, 0, 0, &q));
        TRY(heads_split(ctx, kx, B, T, H, dh, 0, 0, &k));
        TRY(heads_split(ctx, vx, B, T, H, dh, 0, 0, &v));
    }
    TRY(spin_matmul(ctx, q, 0, k, 1, &sc));                  /* [B*H, T, T] */
    if (!s->o.fold_scale) {
        TRY(spin_scale(ctx, sc, 1.0 / sqrt((double)dh), &sc2));
        if (!rc) {
            spin_tensor_free(sc);
            sc = sc2;
            sc2 = NULL;
        }
    }
    spin_attn_opts_t ao = {s->o.delayed_softmax, s->o.nonpos_exp};
    TRY(spin_attention_softmax(ctx, sc, v, &ao, &o));        /* [B*H, T, dh] */
    size_t sh4[4] = {B, H, T, dh}, sh2[2] = {B * T, d};
    TRY(spin_tensor_reshape(o, 4, sh4, &o4));
    TRY(spin_tensor_transpose(o4, 1, 2, &ot));               /* [B, T, H, dh] */
    TRY(spin_tensor_contiguous(ot, &oc));
    TRY(spin_tensor_reshape(oc, 2, sh2, &o2));
    TRY(linear(ctx, o2, l->out_w, l->sout_w, l->out_b, out));
    spin_tensor_t *all[] = {qkv, qx, kx, vx, q, k, v, sc, sc2, p, o, o4, ot, oc, o2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) spin_tensor_free(all[i]);
    return rc;
}

static int ffn(spin_ctx_t *ctx, const vit_shared_t *s, const vit_shared_layer_t *l, const spin_tensor_t *h,
               spin_tensor_t **out)
{
    spin_tensor_t *u = NULL, *a = NULL;
    int rc = linear(ctx, h, l->l1_w, l->sl1_w, l->l1_b, &u);
    if (s->c.gelu) TRY(spin_gelu(ctx, u, SPIN_GELU_ERF, &a));
    else TRY(spin_relu(ctx, u, &a, NULL));
    TRY(linear(ctx, a, l->l2_w, l->sl2_w, l->l2_b, out));
    spin_tensor_free(u);
    spin_tensor_free(a);
    return rc;
}

/* z <- z + f(z) or with the norms of a post-norm layer */
static int add_into(spin_ctx_t *ctx, spin_tensor_t **z, spin_tensor_t *a)
{
    spin_tensor_t *r = NULL;
    int rc = spin_add(ctx, *z, a, &r);
    spin_tensor_free(a);
    if (!rc) {
        spin_tensor_free(*z);
        *z = r;
    }
    return rc;
}

int vit_encode_secure(spin_ctx_t *ctx, const vit_shared_t *s, size_t B, spin_tensor_t **zp)
{
    const vit_cfg_t *c = &s->c;
    spin_tensor_t *z = *zp, *h = NULL, *a = NULL;
    int rc = 0;
    for (int i = 0; i < c->layers && !rc; i++) {
        const vit_shared_layer_t *l = &s->L[i];
        if (c->norm_first) {
            TRY(spin_layernorm(ctx, z, l->n1_w, l->n1_b, c->eps, &h));
            TRY(attention(ctx, s, l, h, B, &a));
            TRY(add_into(ctx, &z, a));
            spin_tensor_free(h);
            h = NULL;
            TRY(spin_layernorm(ctx, z, l->n2_w, l->n2_b, c->eps, &h));
            TRY(ffn(ctx, s, l, h, &a));
            TRY(add_into(ctx, &z, a));
            spin_tensor_free(h);
            h = NULL;
        } else {
            TRY(attention(ctx, s, l, z, B, &a));
            TRY(add_into(ctx, &z, a));
            TRY(spin_layernorm(ctx, z, l->n1_w, l->n1_b, c->eps, &h));
            if (!rc) {
                spin_tensor_free(z);
                z = h;
                h = NULL;
            }
            TRY(ffn(ctx, s, l, z, &a));
            TRY(add_into(ctx, &z, a));
            TRY(spin_layernorm(ctx, z, l->n2_w, l->n2_b, c->eps, &h));
            if (!rc) {
                spin_tensor_free(z);
                z = h;
                h = NULL;
            }
        }
    }
    if (c->norm_first && s->norm_w) {
        TRY(spin_layernorm(ctx, z, s->norm_w, s->norm_b, c->eps, &h));
        if (!rc) {
            spin_tensor_free(z);
            z = h;
            h = NULL;
        }
    }
    spin_tensor_free(h);
    *zp = z;
    return rc;
}

/* z <- e [B*T, d] + the CLS/position terms s->tok (one broadcast add); e is
 * freed. */
static int add_positions(spin_ctx_t *ctx, const vit_shared_t *s, spin_tensor_t *e, size_t B, spin_tensor_t **z)
{
    size_t T = (size_t)s->tokens, d = (size_t)s->c.d_model, flat[2] = {B, T * d}, rs[2] = {B * T, d};
    spin_tensor_t *e2 = NULL, *zz = NULL;
    int rc = spin_tensor_reshape(e, 2, flat, &e2);
    TRY(spin_add_bias(ctx, e2, s->tok, 1, &zz));
    TRY(spin_tensor_reshape(zz, 2, rs, z));
    spin_tensor_free(e);
    spin_tensor_free(e2);
    spin_tensor_free(zz);
    return rc;
}

/* The encoder, the pooling and the head on z [B*T, d] (freed); the logits
 * [B][classes] go to the client only. */
static int classify_secure(spin_ctx_t *ctx, const vit_shared_t *s, int client, size_t B, spin_tensor_t *z,
                           double *logits)
{
    const vit_cfg_t *c = &s->c;
    size_t T = (size_t)s->tokens, d = (size_t)c->d_model, s3[3] = {B, T, d}, s2[2] = {B, d};
    spin_tensor_t *f3 = NULL, *pool = NULL, *lg = NULL;
    int rc = vit_encode_secure(ctx, s, B, &z);
    TRY(spin_tensor_reshape(z, 3, s3, &f3));
    if (c->pool_cls) {
        spin_tensor_t *sl = NULL, *ct = NULL;
        TRY(spin_tensor_slice(f3, 1, 0, 1, &sl));
        TRY(spin_tensor_contiguous(sl, &ct));
        TRY(spin_tensor_reshape(ct, 2, s2, &pool));
        spin_tensor_free(sl);
        spin_tensor_free(ct);
    } else {
        spin_tensor_t *sm = NULL;
        TRY(spin_sum(ctx, f3, 1, &sm));
        TRY(spin_scale(ctx, sm, 1.0 / (double)T, &pool));
        spin_tensor_free(sm);
    }
    TRY(linear(ctx, pool, s->head_w, s->shead_w, s->head_b, &lg));
    TRY(spin_reveal_f64(ctx, lg, client, spin_ctx_party(ctx) == client ? logits : NULL));
    spin_tensor_t *all[] = {z, f3, pool, lg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) spin_tensor_free(all[i]);
    return rc;
}

/* The common tail of both input kinds: the embedded rows e [B*T, d] (or
 * the error rc of making them) plus the position terms, then the encoder,
 * pooling and head. */
static int from_embedding(spin_ctx_t *ctx, const vit_shared_t *s, int client, size_t B, int rc, spin_tensor_t *e,
                          double *logits)
{
    spin_tensor_t *z = NULL;
    if (rc) {
        spin_tensor_free(e);
        return rc;
    }
    rc = add_positions(ctx, s, e, B, &z);
    return rc ? rc : classify_secure(ctx, s, client, B, z, logits);
}

int vit_forward_secure(spin_ctx_t *ctx, const vit_shared_t *s, int client, const uint8_t *img, size_t B,
                       double *logits)
{
    const vit_cfg_t *c = &s->c;
    size_t T = (size_t)s->tokens, P = (size_t)(c->patch * c->patch), xs[2] = {B * T, P};
    double *rows = NULL;
    if (spin_ctx_party(ctx) == client) {
        rows = malloc(B * T * P * sizeof *rows);
        if (!rows) return SPIN_ERR_NOMEM;
        vit_patchify(c, img, B, rows);
    }
    spin_tensor_t *x = NULL, *e = NULL;
    int rc = spin_input_f64(ctx, client, rows, 2, xs, &x);
    free(rows);
    TRY(linear(ctx, x, s->pe_w, s->spe_w, s->pe_b, &e));          /* [B*T, d] */
    spin_tensor_free(x);
    return from_embedding(ctx, s, client, B, rc, e, logits);
}

int vit_forward_secure_tokens(spin_ctx_t *ctx, const vit_shared_t *s, int client, const int32_t *ids, size_t B,
                              double *logits)
{
    size_t T = (size_t)s->tokens, V = (size_t)s->c.vocab, xs[2] = {B * T, V};
    uint64_t *onehot = NULL;
    if (spin_ctx_party(ctx) == client) {
        onehot = calloc(B * T * V, sizeof *onehot);
        if (!onehot) return SPIN_ERR_NOMEM;
        for (size_t r = 0; r < B * T; r++) {
            if (ids[r] < 0 || (size_t)ids[r] >= V) {   /* the caller checks; never write outside */
                free(onehot);
                return SPIN_ERR_INVAL;
            }
            onehot[r * V + (size_t)ids[r]] = 1;       /* integers, not fixed point */
        }
    }
    spin_tensor_t *x = NULL, *e = NULL;
    int rc = spin_input_ring(ctx, client, onehot, 2, xs, &x);
    free(onehot);
    /* integer x fixed point: the rows of tok_embed at scale 2^f, no truncation */
    TRY(s->stok_embed ? spin_matmul_static_raw(ctx, x, 0, s->stok_embed, 0, &e)
                          : spin_matmul_raw(ctx, x, 0, s->tok_embed, 0, &e));   /* [B*T, d] */
    spin_tensor_free(x);
    return from_embedding(ctx, s, client, B, rc, e, logits);
}
