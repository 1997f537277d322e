/* train_plain.c - spin-train --plaintext: the same network, initial
 * weights, batches and SGD rule as the secure engine, in float64 with
 * OpenBLAS GEMMs.  The reference the secure run's accuracy is compared to.
 * Ties in max-pooling go to the first maximum, as in the secure engine.
 * BatchNorm: PyTorch's rule (batch statistics and the running statistics'
 * update in training, biased variance for normalising, unbiased for
 * running_var; the running statistics in prediction). */
#include "config.h"

#include "train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct plain {
    double *w[MODEL_MAX_LAYERS], *b[MODEL_MAX_LAYERS];
    double *vw[MODEL_MAX_LAYERS], *vb[MODEL_MAX_LAYERS];
    double *gw[MODEL_MAX_LAYERS], *gb[MODEL_MAX_LAYERS];
    double *act[MODEL_MAX_LAYERS + 1];   /* act[i]: input of layer i, [B][in] */
    size_t *arg[MODEL_MAX_LAYERS];       /* maxpool: argmax input index per output */
    double *rm[MODEL_MAX_LAYERS], *rv[MODEL_MAX_LAYERS];   /* BatchNorm running statistics */
    double *xh[MODEL_MAX_LAYERS], *inv[MODEL_MAX_LAYERS];  /* BatchNorm xhat [B][in], 1/sqrt(var + eps) [c] */
    int train;                           /* forward in training mode (BatchNorm) */
    double *cols;                        /* im2col scratch */
    size_t B;                            /* batch the buffers are sized for */
} plain_t;

static size_t in_elems(const layer_spec_t *l) { return shape_elems(l->in_nd, l->in); }
static size_t out_elems(const layer_spec_t *l) { return shape_elems(l->out_nd, l->out); }

static void free_acts(const model_spec_t *m, plain_t *p)
{
    for (int i = 0; i <= m->nl; i++) {
        free(p->act[i]);
        p->act[i] = NULL;
    }
    for (int i = 0; i < m->nl; i++) {
        free(p->arg[i]);
        free(p->xh[i]);
        p->arg[i] = NULL;
        p->xh[i] = NULL;
    }
    free(p->cols);
    p->cols = NULL;
    p->B = 0;
}

static int ensure(const model_spec_t *m, plain_t *p, size_t B)
{
    if (p->B >= B) return 0;
    free_acts(m, p);
    size_t maxcols = 0;
    for (int i = 0; i < m->nl; i++) {
        const layer_spec_t *l = &m->L[i];
        p->act[i] = malloc(B * in_elems(l) * sizeof(double));
        if (!p->act[i]) return -1;
        if (l->kind == L_MAXPOOL && !(p->arg[i] = malloc(B * out_elems(l) * sizeof(size_t)))) return -1;
        if (l->kind == L_BN && !(p->xh[i] = malloc(B * in_elems(l) * sizeof(double)))) return -1;
        if (l->kind == L_CONV) {
            size_t c = l->in_c * l->k * l->k * l->out[1] * l->out[2];
            if (c > maxcols) maxcols = c;
        }
    }
    p->act[m->nl] = malloc(B * out_elems(&m->L[m->nl - 1]) * sizeof(double));
    p->cols = malloc((maxcols ? maxcols : 1) * sizeof(double));
    if (!p->act[m->nl] || !p->cols) return -1;
    p->B = B;
    return 0;
}

/* x [C][H][W] -> cols [C*k*k][OH*OW] */
static void im2col(const layer_spec_t *l, const double *x, double *cols)
{
    size_t C = l->in_c, H = l->in[1], W = l->in[2], k = l->k, OH = l->out[1], OW = l->out[2];
    for (size_t c = 0; c < C; c++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                double *row = cols + ((c * k + ki) * k + kj) * OH * OW;
                for (size_t oh = 0; oh < OH; oh++)
                    for (size_t ow = 0; ow < OW; ow++) {
                        long ih = (long)(oh * l->stride + ki) - (long)l->pad;
                        long iw = (long)(ow * l->stride + kj) - (long)l->pad;
                        row[oh * OW + ow] = ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W
                                                ? 0.0 : x[(c * H + (size_t)ih) * W + (size_t)iw];
                    }
            }
}

static void col2im(const layer_spec_t *l, const double *cols, double *dx)
{
    size_t C = l->in_c, H = l->in[1], W = l->in[2], k = l->k, OH = l->out[1], OW = l->out[2];
    memset(dx, 0, C * H * W * sizeof(double));
    for (size_t c = 0; c < C; c++)
        for (size_t ki = 0; ki < k; ki++)
            for (size_t kj = 0; kj < k; kj++) {
                const double *row = cols + ((c * k + ki) * k + kj) * OH * OW;
                for (size_t oh = 0; oh < OH; oh++)
                    for (size_t ow = 0; ow < OW; ow++) {
                        long ih = (long)(oh * l->stride + ki) - (long)l->pad;
                        long iw = (long)(ow * l->stride + kj) - (long)l->pad;
                        if (ih >= 0 && iw >= 0 && ih < (long)H && iw < (long)W)
                            dx[(c * H + (size_t)ih) * W + (size_t)iw] += row[oh * OW + ow];
                    }
            }
}

static void forward_layer(plain_t *p, int i, const layer_spec_t *l, size_t B)
{
    const double *x = p->act[i];
    double *y = p->act[i + 1];
    size_t ni = in_elems(l), no = out_elems(l);
    switch (l->kind) {
    case L_CONV: {
        size_t K = l->in_c * l->k * l->k, P = l->out[1] * l->out[2];
        for (size_t s = 0; s < B; s++) {
            im2col(l, x + s * ni, p->cols);
            double *ys = y + s * no;
            for (size_t o = 0; o < l->out_c; o++)
                for (size_t q = 0; q < P; q++) ys[o * P + q] = p->b[i][o];
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)l->out_c, (int)P, (int)K, 1.0, p->w[i],
                        (int)K, p->cols, (int)P, 1.0, ys, (int)P);
        }
        break;
    }
    case L_LINEAR:
        for (size_t s = 0; s < B; s++) memcpy(y + s * no, p->b[i], no * sizeof(double));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)l->out_c, (int)l->in_c, 1.0, x,
                    (int)l->in_c, p->w[i], (int)l->in_c, 1.0, y, (int)l->out_c);
        break;
    case L_RELU:
        for (size_t j = 0; j < B * ni; j++) y[j] = x[j] > 0 ? x[j] : 0.0;
        break;
    case L_FLATTEN:
        memcpy(y, x, B * ni * sizeof(double));
        break;
    case L_BN: {
        size_t C = l->in_c, HW = l->in[1] * l->in[2], M = B * HW;
        for (size_t c = 0; c < C; c++) {
            double mean, inv;
            if (p->train) {
                double s = 0, ss = 0;
                for (size_t r = 0; r < B; r++)
                    for (size_t j = 0; j < HW; j++) s += x[r * ni + c * HW + j];
                mean = s / (double)M;
                for (size_t r = 0; r < B; r++)
                    for (size_t j = 0; j < HW; j++) {
                        double t = x[r * ni + c * HW + j] - mean;
                        ss += t * t;
                    }
                inv = 1.0 / sqrt(ss / (double)M + BN_EPS);
                p->rm[i][c] = (1 - BN_MOMENTUM) * p->rm[i][c] + BN_MOMENTUM * mean;
                p->rv[i][c] = (1 - BN_MOMENTUM) * p->rv[i][c] + BN_MOMENTUM * ss / (double)(M > 1 ? M - 1 : 1);
                p->inv[i][c] = inv;
            } else {
                mean = p->rm[i][c];
                inv = 1.0 / sqrt(p->rv[i][c] + BN_EPS);
            }
            for (size_t r = 0; r < B; r++)
                for (size_t j = 0; j < HW; j++) {
                    size_t o = r * ni + c * HW + j;
                    double xh = (x[o] - mean) * inv;
                    if (p->train) p->xh[i][o] = xh;
                    y[o] = p->w[i][c] * xh + p->b[i][c];
                }
        }
        break;
    }
    case L_MAXPOOL:
    case L_AVGPOOL: {
        size_t C = l->in[0], H = l->in[1], W = l->in[2], OH = l->out[1], OW = l->out[2];
        for (size_t s = 0; s < B; s++)
            for (size_t c = 0; c < C; c++)
                for (size_t oh = 0; oh < OH; oh++)
                    for (size_t ow = 0; ow < OW; ow++) {
                        double best = -INFINITY, sum = 0;
                        size_t arg = 0;
                        for (size_t ki = 0; ki < l->k; ki++)
                            for (size_t kj = 0; kj < l->k; kj++) {
                                long ih = (long)(oh * l->stride + ki) - (long)l->pad;
                                long iw = (long)(ow * l->stride + kj) - (long)l->pad;
                                if (ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W) continue;
                                size_t idx = s * ni + (c * H + (size_t)ih) * W + (size_t)iw;
                                sum += x[idx];
                                if (x[idx] > best) {
                                    best = x[idx];
                                    arg = idx;
                                }
                            }
                        size_t o = s * no + (c * OH + oh) * OW + ow;
                        if (l->kind == L_MAXPOOL) {
                            y[o] = best;
                            p->arg[i][o] = arg;
                        } else {
                            y[o] = sum / (double)(l->k * l->k);
                        }
                    }
        break;
    }
    }
}

/* dy: gradient of layer i's output; dx (may be NULL for layer 0) */
static void backward_layer(plain_t *p, int i, const layer_spec_t *l, size_t B, const double *dy, double *dx)
{
    const double *x = p->act[i];
    size_t ni = in_elems(l), no = out_elems(l);
    switch (l->kind) {
    case L_CONV: {
        size_t K = l->in_c * l->k * l->k, P = l->out[1] * l->out[2];
        memset(p->gw[i], 0, layer_wsize(l) * sizeof(double));
        memset(p->gb[i], 0, layer_bsize(l) * sizeof(double));
        for (size_t s = 0; s < B; s++) {
            const double *dys = dy + s * no;
            im2col(l, x + s * ni, p->cols);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)l->out_c, (int)K, (int)P, 1.0, dys, (int)P,
                        p->cols, (int)P, 1.0, p->gw[i], (int)K);
            for (size_t o = 0; o < l->out_c; o++)
                for (size_t q = 0; q < P; q++) p->gb[i][o] += dys[o * P + q];
            if (dx) {
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)P, (int)l->out_c, 1.0, p->w[i],
                            (int)K, dys, (int)P, 0.0, p->cols, (int)P);
                col2im(l, p->cols, dx + s * ni);
            }
        }
        break;
    }
    case L_LINEAR:
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)l->out_c, (int)l->in_c, (int)B, 1.0, dy,
                    (int)l->out_c, x, (int)l->in_c, 0.0, p->gw[i], (int)l->in_c);
        for (size_t o = 0; o < l->out_c; o++) {
            double s = 0;
            for (size_t r = 0; r < B; r++) s += dy[r * no + o];
            p->gb[i][o] = s;
        }
        if (dx)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)l->in_c, (int)l->out_c, 1.0, dy,
                        (int)l->out_c, p->w[i], (int)l->in_c, 0.0, dx, (int)l->in_c);
        break;
    case L_RELU:
        if (dx)
            for (size_t j = 0; j < B * ni; j++) dx[j] = x[j] >= 0 ? dy[j] : 0.0;
        break;
    case L_FLATTEN:
        if (dx) memcpy(dx, dy, B * ni * sizeof(double));
        break;
    case L_BN: {
        /* dx = (inv / M) (M g - sum g - xhat sum(g xhat)), g = gamma dy */
        size_t C = l->in_c, HW = l->in[1] * l->in[2], M = B * HW;
        for (size_t c = 0; c < C; c++) {
            double sdy = 0, sdyx = 0;
            for (size_t r = 0; r < B; r++)
                for (size_t j = 0; j < HW; j++) {
                    size_t o = r * ni + c * HW + j;
                    sdy += dy[o];
                    sdyx += dy[o] * p->xh[i][o];
                }
            p->gw[i][c] = sdyx;
            p->gb[i][c] = sdy;
            if (!dx) continue;
            double ga = p->w[i][c], k = ga * p->inv[i][c] / (double)M;
            for (size_t r = 0; r < B; r++)
                for (size_t j = 0; j < HW; j++) {
                    size_t o = r * ni + c * HW + j;
                    dx[o] = k * ((double)M * dy[o] - sdy - p->xh[i][o] * sdyx);
                }
        }
        break;
    }
    case L_MAXPOOL:
        if (dx) {
            memset(dx, 0, B * ni * sizeof(double));
            for (size_t o = 0; o < B * no; o++) dx[p->arg[i][o]] += dy[o];
        }
        break;
    case L_AVGPOOL:
        if (dx) {
            size_t C = l->in[0], H = l->in[1], W = l->in[2], OH = l->out[1], OW = l->out[2];
            double inv = 1.0 / (double)(l->k * l->k);
            memset(dx, 0, B * ni * sizeof(double));
            for (size_t s = 0; s < B; s++)
                for (size_t c = 0; c < C; c++)
                    for (size_t oh = 0; oh < OH; oh++)
                        for (size_t ow = 0; ow < OW; ow++) {
                            double g = dy[s * no + (c * OH + oh) * OW + ow] * inv;
                            for (size_t ki = 0; ki < l->k; ki++)
                                for (size_t kj = 0; kj < l->k; kj++) {
                                    long ih = (long)(oh * l->stride + ki) - (long)l->pad;
                                    long iw = (long)(ow * l->stride + kj) - (long)l->pad;
                                    if (ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W) continue;
                                    dx[s * ni + (c * H + (size_t)ih) * W + (size_t)iw] += g;
                                }
                        }
        }
        break;
    }
}

static void forward(engine_t *e, plain_t *p, const double *x, size_t B)
{
    const model_spec_t *m = e->m;
    memcpy(p->act[0], x, B * in_elems(&m->L[0]) * sizeof(double));
    for (int i = 0; i < m->nl; i++) {
        double t0 = train_now();
        forward_layer(p, i, &m->L[i], B);
        e->stats[i].fwd_s += train_now() - t0;
    }
}

static int p_step(engine_t *e, const double *x, const uint8_t *labels, size_t B, int want_loss, double *loss)
{
    plain_t *p = e->st;
    const model_spec_t *m = e->m;
    if (ensure(m, p, B)) return -1;
    p->train = 1;
    forward(e, p, x, B);
    p->train = 0;
    size_t K = m->classes;
    const double *z = p->act[m->nl];
    double *dy = malloc(B * K * sizeof(double));
    if (!dy) return -1;
    double L = 0;
    for (size_t r = 0; r < B; r++) {
        double mx = z[r * K];
        for (size_t c = 1; c < K; c++) mx = fmax(mx, z[r * K + c]);
        double s = 0;
        for (size_t c = 0; c < K; c++) s += exp(z[r * K + c] - mx);
        for (size_t c = 0; c < K; c++) {
            double pr = exp(z[r * K + c] - mx) / s;
            dy[r * K + c] = (pr - (c == labels[r] ? 1.0 : 0.0)) / (double)B;
        }
        L += -(z[r * K + labels[r]] - mx - log(s));
    }
    if (loss) *loss = want_loss ? L / (double)B : NAN;
    /* backward: gradients flow through act-sized buffers */
    double *g = dy;
    for (int i = m->nl - 1; i >= 0; i--) {
        const layer_spec_t *l = &m->L[i];
        double *dx = NULL;
        if (i > 0) {
            dx = malloc(B * in_elems(l) * sizeof(double));
            if (!dx) {
                free(g);
                return -1;
            }
        }
        double t0 = train_now();
        backward_layer(p, i, l, B, g, dx);
        e->stats[i].bwd_s += train_now() - t0;
        free(g);
        g = dx;
    }
    free(g);
    /* SGD with momentum and weight decay (PyTorch's rule) */
    for (int i = 0; i < m->nl; i++) {
        const layer_spec_t *l = &m->L[i];
        if (!layer_has_params(l)) continue;
        double *ws[2] = {p->w[i], p->b[i]}, *vs[2] = {p->vw[i], p->vb[i]}, *gs[2] = {p->gw[i], p->gb[i]};
        size_t ns[2] = {layer_wsize(l), layer_bsize(l)};
        for (int t = 0; t < 2; t++)
            for (size_t j = 0; j < ns[t]; j++) {
                double gg = gs[t][j] + e->hp.weight_decay * ws[t][j];
                vs[t][j] = e->hp.momentum * vs[t][j] + gg;
                ws[t][j] -= e->hp.lr * vs[t][j];
            }
    }
    return 0;
}

static int p_predict(engine_t *e, const double *x, size_t B, int *pred)
{
    plain_t *p = e->st;
    const model_spec_t *m = e->m;
    if (ensure(m, p, B)) return -1;
    forward(e, p, x, B);
    const double *z = p->act[m->nl];
    for (size_t r = 0; r < B; r++) {
        size_t best = 0;
        for (size_t c = 1; c < m->classes; c++)
            if (z[r * m->classes + c] > z[r * m->classes + best]) best = c;
        pred[r] = (int)best;
    }
    return 0;
}

static int p_save(engine_t *e, FILE *f)
{
    plain_t *p = e->st;
    for (int i = 0; i < e->m->nl; i++) {
        const layer_spec_t *l = &e->m->L[i];
        if (!layer_has_params(l)) continue;
        size_t nw = layer_wsize(l), nb = layer_bsize(l);
        if (fwrite(p->w[i], 8, nw, f) != nw || fwrite(p->b[i], 8, nb, f) != nb || fwrite(p->vw[i], 8, nw, f) != nw ||
            fwrite(p->vb[i], 8, nb, f) != nb)
            return -1;
        if (layer_has_stats(l) && (fwrite(p->rm[i], 8, nb, f) != nb || fwrite(p->rv[i], 8, nb, f) != nb)) return -1;
    }
    return 0;
}

static int p_load(engine_t *e, FILE *f)
{
    plain_t *p = e->st;
    for (int i = 0; i < e->m->nl; i++) {
        const layer_spec_t *l = &e->m->L[i];
        if (!layer_has_params(l)) continue;
        size_t nw = layer_wsize(l), nb = layer_bsize(l);
        if (fread(p->w[i], 8, nw, f) != nw || fread(p->b[i], 8, nb, f) != nb || fread(p->vw[i], 8, nw, f) != nw ||
            fread(p->vb[i], 8, nb, f) != nb)
            return -1;
        if (layer_has_stats(l) && (fread(p->rm[i], 8, nb, f) != nb || fread(p->rv[i], 8, nb, f) != nb)) return -1;
    }
    return 0;
}

/* BatchNorm: w[i] holds gamma then running_mean, b[i] beta then
 * running_var (train_io.c sizes them so). */
static int p_export(engine_t *e, int to, double **w, double **b)
{
    (void)to;
    plain_t *p = e->st;
    for (int i = 0; i < e->m->nl; i++) {
        const layer_spec_t *l = &e->m->L[i];
        if (!layer_has_params(l)) continue;
        memcpy(w[i], p->w[i], layer_wsize(l) * 8);
        memcpy(b[i], p->b[i], layer_bsize(l) * 8);
        if (layer_has_stats(l)) {
            memcpy(w[i] + layer_wsize(l), p->rm[i], layer_bsize(l) * 8);
            memcpy(b[i] + layer_bsize(l), p->rv[i], layer_bsize(l) * 8);
        }
    }
    return 0;
}

static uint64_t p_bytes(engine_t *e)
{
    (void)e;
    return 0;
}

static void p_destroy(engine_t *e)
{
    if (!e) return;
    plain_t *p = e->st;
    if (p) {
        free_acts(e->m, p);
        for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
            free(p->w[i]);
            free(p->b[i]);
            free(p->vw[i]);
            free(p->vb[i]);
            free(p->gw[i]);
            free(p->gb[i]);
            free(p->rm[i]);
            free(p->rv[i]);
            free(p->inv[i]);
        }
        free(p);
    }
    free(e);
}

engine_t *train_plain_new(const model_spec_t *m, const train_hp_t *hp, char *msg, size_t msglen)
{
    engine_t *e = calloc(1, sizeof *e);
    plain_t *p = calloc(1, sizeof *p);
    if (!e || !p) {
        free(e);
        free(p);
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    e->m = m;
    e->hp = *hp;
    e->st = p;
    e->step = p_step;
    e->predict = p_predict;
    e->save = p_save;
    e->load = p_load;
    e->export_params = p_export;
    e->bytes_sent = p_bytes;
    e->destroy = p_destroy;
    for (int i = 0; i < m->nl; i++) {
        const layer_spec_t *l = &m->L[i];
        if (!layer_has_params(l)) continue;
        size_t nw = layer_wsize(l), nb = layer_bsize(l);
        p->w[i] = calloc(nw, 8);
        p->b[i] = calloc(nb, 8);
        p->vw[i] = calloc(nw, 8);
        p->vb[i] = calloc(nb, 8);
        p->gw[i] = calloc(nw, 8);
        p->gb[i] = calloc(nb, 8);
        if (layer_has_stats(l)) {
            p->rm[i] = calloc(nb, 8);
            p->rv[i] = malloc(nb * 8);
            p->inv[i] = calloc(nb, 8);
            if (!p->rm[i] || !p->rv[i] || !p->inv[i]) {
                p_destroy(e);
                snprintf(msg, msglen, "out of memory for the model's parameters");
                return NULL;
            }
            for (size_t j = 0; j < nb; j++) p->rv[i][j] = 1.0;
        }
        if (!p->w[i] || !p->b[i] || !p->vw[i] || !p->vb[i] || !p->gw[i] || !p->gb[i]) {
            p_destroy(e);
            snprintf(msg, msglen, "out of memory for the model's parameters");
            return NULL;
        }
    }
    model_init(m, hp->seed, p->w, p->b);
    return e;
}
