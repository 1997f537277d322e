/* spin-infer - secure Transformer inference: the model owner's party
 * secret-shares the weights (safetensors + JSON config), the client's
 * party secret-shares the images (IDX) or the token ids (a text file or
 * IDX), and only the client learns the logits and predictions.
 * --plaintext runs the float64 forward pass of the same model.  See
 * apps/README.md. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spin/mpc.h>

#include "checked.h"
#include "idx.h"
#include "safetensors.h"
#include "vit.h"

typedef struct opts {
    const char *weights, *config, *input, *check, *save;
    size_t count, offset, batch;
    int parties, owner, client, plaintext, quiet;
    unsigned frac_bits;
    vit_opts_t vo;
} opts_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: spin-run -n N [--] spin-infer [OPTIONS]     (secure, N parties + dealer)\n"
            "       spin-infer --parties N [OPTIONS]            (the same, as threads of one process)\n"
            "       spin-infer --plaintext [OPTIONS]            (float64 forward pass)\n"
            "  -w, --model FILE      weights, safetensors (default models/vit-fmnist/model.safetensors)\n"
            "  -c, --config FILE     model config, JSON (default models/vit-fmnist/config.json)\n"
            "  -i, --input FILE      image models: IDX images [N, image, image] (default: the\n"
            "                        Fashion-MNIST test set); token models (config \"vocab\", \"seq\"):\n"
            "                        token ids, a text file (one sequence per line, exactly seq\n"
            "                        whitespace-separated ids in 0..vocab-1) or IDX [N, seq] of\n"
            "                        ubyte or int (required)\n"
            "  -n, --count N         images / sequences to classify (default 16)\n"
            "      --offset N        first image / sequence (default 0)\n"
            "  -b, --batch N         images / sequences per secure forward pass (default 16)\n"
            "  -p, --parties N       run N parties + dealer in this process\n"
            "      --owner P         the model owner's party (default 0)\n"
            "      --client P        the client's party (default N-1)\n"
            "  -f, --frac-bits F     fixed-point fractional bits (default 16)\n"
            "      --no-fold-scale   do not fold 1/sqrt(d_head) into W_Q (measurement)\n"
            "      --no-fused-qkv    three projections instead of one (measurement)\n"
            "      --no-delayed-softmax  normalise the attention weights before the product with V\n"
            "      --no-nonpos-exp   the general exp inside attention's softmax (measurement)\n"
            "      --no-static-weights  open the weights in every product instead of once per model\n"
            "                        load against kept dealer masks (measurement)\n"
            "      --check FILE      compare the logits with a safetensors file holding \"logits\" [M, classes]\n"
            "                        for inputs offset.. (models/vit-fmnist/logits.safetensors)\n"
            "      --save-logits FILE  the client writes the logits [count, classes] as safetensors\n"
            "  -q, --quiet           no per-image / per-sequence lines\n"
            "      --plaintext       float64, no MPC\n"
            "  -h, --help            this text\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-' || !s[0]) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->weights = "models/vit-fmnist/model.safetensors";
    o->config = "models/vit-fmnist/config.json";
    o->count = 16;
    o->batch = 16;
    o->owner = 0;
    o->client = -1;
    o->frac_bits = 16;
    o->vo.fold_scale = 1;
    o->vo.fused_qkv = 1;
    o->vo.delayed_softmax = 1;
    o->vo.nonpos_exp = 1;
    o->vo.static_weights = 1;
    enum { O_OFF = 256, O_OWN, O_CLI, O_NFS, O_NFQ, O_CHK, O_PLAIN, O_SAVE, O_NDS, O_NNE, O_NSW };
    static const struct option lo[] = {
        {"model", 1, 0, 'w'}, {"config", 1, 0, 'c'}, {"input", 1, 0, 'i'}, {"count", 1, 0, 'n'},
        {"offset", 1, 0, O_OFF}, {"batch", 1, 0, 'b'}, {"parties", 1, 0, 'p'}, {"owner", 1, 0, O_OWN},
        {"client", 1, 0, O_CLI}, {"frac-bits", 1, 0, 'f'}, {"no-fold-scale", 0, 0, O_NFS},
        {"no-fused-qkv", 0, 0, O_NFQ}, {"no-delayed-softmax", 0, 0, O_NDS}, {"no-nonpos-exp", 0, 0, O_NNE}, {"no-static-weights", 0, 0, O_NSW}, {"check", 1, 0, O_CHK}, {"save-logits", 1, 0, O_SAVE}, {"quiet", 0, 0, 'q'}, {"plaintext", 0, 0, O_PLAIN},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    size_t v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":w:c:i:n:b:p:f:qh", lo, NULL)) != -1) {
        const char *a = optarg;
        int bad = 0;
        switch (c) {
        case 'w': o->weights = a; break;
        case 'c': o->config = a; break;
        case 'i': o->input = a; break;
        case 'n': bad = parse_size(a, &o->count) || o->count < 1; break;
        case O_OFF: bad = parse_size(a, &o->offset); break;
        case 'b': bad = parse_size(a, &o->batch) || o->batch < 1 || o->batch > 4096; break;
        case 'p': bad = parse_size(a, &v) || v < 2 || v > 16; o->parties = (int)v; break;
        case O_OWN: bad = parse_size(a, &v) || v > 63; o->owner = (int)v; break;
        case O_CLI: bad = parse_size(a, &v) || v > 63; o->client = (int)v; break;
        case 'f': bad = parse_size(a, &v) || v < 8 || v > 24; o->frac_bits = (unsigned)v; break;
        case O_NFS: o->vo.fold_scale = 0; break;
        case O_NFQ: o->vo.fused_qkv = 0; break;
        case O_NDS: o->vo.delayed_softmax = 0; break;
        case O_NNE: o->vo.nonpos_exp = 0; break;
        case O_NSW: o->vo.static_weights = 0; break;
        case O_CHK: o->check = a; break;
        case O_SAVE: o->save = a; break;
        case 'q': o->quiet = 1; break;
        case O_PLAIN: o->plaintext = 1; break;
        case 'h': usage(stdout); exit(0);
        case ':': fprintf(stderr, "spin-infer: %s needs a value (see --help)\n", argv[optind - 1]); return -1;
        default: fprintf(stderr, "spin-infer: unknown option %s (see --help)\n", argv[optind - 1]); return -1;
        }
        if (bad) {
            const char *flag = argv[optind - 1] == a && optind >= 2 ? argv[optind - 2] : argv[optind - 1];
            fprintf(stderr, "spin-infer: bad value \"%s\" for %s (see --help)\n", a, flag);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spin-infer: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -1;
    }
    /* offset + count is compared with the inputs' counts: it must not wrap */
    size_t end;
    if (checked_add(o->offset, o->count, &end)) {
        fprintf(stderr, "spin-infer: --offset %zu --count %zu: the inputs would run past index 2^64 (see --help)\n",
                o->offset, o->count);
        return -1;
    }
    return 0;
}

typedef struct job {
    const opts_t *o;
    vit_t model;          /* owner (and plaintext) */
    vit_cfg_t cfg;
    uint8_t *img;         /* client: count images (image models) */
    int32_t *ids;         /* client: count sequences [count][seq] (token models) */
    uint8_t *labels;      /* client: labels when known */
    double *ref;          /* --check: reference logits */
    int rc;
} job_t;

/* Load the images for the client (IDX file or the Fashion-MNIST test set). */
static int load_images(const opts_t *o, const vit_cfg_t *c, job_t *J)
{
    idx_error_t err;
    size_t px = (size_t)c->image * (size_t)c->image;
    if (o->input) {
        idx_array_t a;
        if (idx_read(o->input, &a, &err) != IDX_OK) {
            fprintf(stderr, "spin-infer: %s\n", err.msg);
            return -1;
        }
        if (a.ndims != 3 || a.dims[1] != (uint32_t)c->image || a.dims[2] != (uint32_t)c->image ||
            o->offset + o->count > a.dims[0]) {
            fprintf(stderr, "spin-infer: %s: need %zu images of %dx%d from index %zu; the file has %u of %ux%u\n",
                    o->input, o->count, c->image, c->image, o->offset, a.ndims ? a.dims[0] : 0,
                    a.ndims == 3 ? a.dims[1] : 0, a.ndims == 3 ? a.dims[2] : 0);
            idx_array_free(&a);
            return -1;
        }
        J->img = malloc(o->count * px);
        if (J->img) memcpy(J->img, a.data + o->offset * px, o->count * px);
        idx_array_free(&a);
        return J->img ? 0 : -1;
    }
    idx_dataset_t ds;
    idx_dataset_opts_t d = {NULL, "test", c->classes, (uint32_t)c->image, (uint32_t)c->image};
    if (idx_dataset_load(&d, &ds, &err) != IDX_OK) {
        fprintf(stderr, "spin-infer: %s\n", err.msg);
        return -1;
    }
    if (o->offset + o->count > ds.n) {
        fprintf(stderr, "spin-infer: the test set has %zu images; --offset %zu --count %zu is past its end\n", ds.n,
                o->offset, o->count);
        idx_dataset_free(&ds);
        return -1;
    }
    J->img = malloc(o->count * px);
    J->labels = malloc(o->count);
    if (J->img && J->labels) {
        memcpy(J->img, ds.images + o->offset * px, o->count * px);
        memcpy(J->labels, ds.labels + o->offset, o->count);
    }
    idx_dataset_free(&ds);
    return J->img && J->labels ? 0 : -1;
}

/* ---- token ids ---- */

/* Bad lines / ids reported before the rest are only counted. */
#define MAX_BAD_SHOWN 20

typedef struct ids_buf {
    int32_t *v;
    size_t n, cap;        /* ids held / room */
} ids_buf_t;

static int ids_push(ids_buf_t *b, const int32_t *row, size_t L)
{
    if (b->n + L > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64 * L;
        while (cap < b->n + L) cap *= 2;
        int32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) return -1;
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, row, L * sizeof *row);
    b->n += L;
    return 0;
}

/* One line of a token-ids file into row [L]: NULL if it is good, else the
 * problem (in why). */
static const char *parse_ids_line(char *line, const vit_cfg_t *c, int32_t *row, char *why, size_t len)
{
    static const char ws[] = " \t\r\n\v\f";
    size_t k = 0, L = (size_t)c->seq;
    char *save = NULL;
    for (char *w = strtok_r(line, ws, &save); w; w = strtok_r(NULL, ws, &save), k++) {
        size_t nd = strspn(w, "0123456789");
        if (!nd || w[nd]) {
            snprintf(why, len, "\"%.40s\" at position %zu is not a non-negative integer", w, k + 1);
            return why;
        }
        errno = 0;
        unsigned long long v = strtoull(w, NULL, 10);
        if (errno || v >= (unsigned long long)c->vocab) {
            snprintf(why, len, "id %.40s at position %zu is out of range: the vocabulary has %d ids (0..%d)", w,
                     k + 1, c->vocab, c->vocab - 1);
            return why;
        }
        if (k < L) row[k] = (int32_t)v;
    }
    if (k != L) {
        snprintf(why, len, "%zu ids, expected %zu (the config's \"seq\": every sequence has exactly %zu ids, "
                           "no padding)", k, L, L);
        return why;
    }
    return NULL;
}

static int blank(const char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    return !*s;
}

/* A text file of token ids: one sequence per line (blank lines are
 * skipped).  Every bad line is reported (the first MAX_BAD_SHOWN in full). */
static int read_ids_text(const char *path, const vit_cfg_t *c, ids_buf_t *b)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "spin-infer: cannot open the token ids %s: %s\n", path, strerror(errno));
        return -1;
    }
    int32_t *row = malloc((size_t)c->seq * sizeof *row);
    char *line = NULL, why[256];
    size_t cap = 0, lineno = 0, nbad = 0;
    int rc = row ? 0 : -1;
    while (!rc && getline(&line, &cap, f) >= 0) {
        lineno++;
        if (blank(line)) continue;
        const char *bad = parse_ids_line(line, c, row, why, sizeof why);
        if (bad && ++nbad <= MAX_BAD_SHOWN) fprintf(stderr, "spin-infer: %s:%zu: %s\n", path, lineno, bad);
        if (!bad && !nbad) rc = ids_push(b, row, (size_t)c->seq);
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "spin-infer: %s: read error: %s\n", path, strerror(errno));
        rc = -1;
    }
    if (nbad > MAX_BAD_SHOWN) fprintf(stderr, "spin-infer: %s: %zu more bad lines\n", path, nbad - MAX_BAD_SHOWN);
    if (nbad) fprintf(stderr, "spin-infer: %s: %zu of %zu lines %s bad\n", path, nbad, lineno, nbad > 1 ? "are" : "is");
    free(line);
    free(row);
    fclose(f);
    return rc || nbad ? -1 : 0;
}

/* An IDX file of token ids: [N, seq], ubyte or int. */
static int read_ids_idx(const char *path, const vit_cfg_t *c, ids_buf_t *b)
{
    idx_array_t a;
    idx_error_t err;
    if (idx_read_int(path, &a, &err) != IDX_OK) {
        fprintf(stderr, "spin-infer: %s\n", err.msg);
        return -1;
    }
    size_t L = (size_t)c->seq, nbad = 0;
    if (a.ndims != 2 || a.dims[1] != (uint32_t)c->seq) {
        char dims[128] = "";
        for (int i = 0, at = 0; i < a.ndims && at < 100; i++)
            at += snprintf(dims + at, sizeof dims - (size_t)at, "%s%u", i ? ", " : "", a.dims[i]);
        fprintf(stderr, "spin-infer: %s: token ids in IDX must have 2 dimensions [N, %d] (N sequences of the config's "
                        "\"seq\" ids); this file has [%s]\n", path, c->seq, dims);
        idx_array_free(&a);
        return -1;
    }
    for (size_t i = 0; i < a.count; i++) {
        int64_t v = idx_value(&a, i);
        if ((v < 0 || v >= c->vocab) && ++nbad <= MAX_BAD_SHOWN)
            fprintf(stderr, "spin-infer: %s: sequence %zu, position %zu: id %lld is out of range: the vocabulary has %d "
                            "ids (0..%d)\n", path, i / L, i % L + 1, (long long)v, c->vocab, c->vocab - 1);
    }
    if (nbad > MAX_BAD_SHOWN) fprintf(stderr, "spin-infer: %s: %zu more bad ids\n", path, nbad - MAX_BAD_SHOWN);
    int rc = nbad ? -1 : 0;
    if (!rc && !(b->v = malloc((a.count ? a.count : 1) * sizeof *b->v))) rc = -1;
    for (size_t i = 0; !rc && i < a.count; i++) b->v[i] = (int32_t)idx_value(&a, i);
    if (!rc) b->n = b->cap = a.count;
    idx_array_free(&a);
    return rc;
}

/* IDX (magic 00 00, or gzip's 1f 8b) or text? */
static int looks_like_idx(const char *path)
{
    unsigned char m[2] = {0xff, 0xff};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(m, 1, 2, f);
    fclose(f);
    return n == 2 && ((m[0] == 0 && m[1] == 0) || (m[0] == 0x1f && m[1] == 0x8b));
}

/* Load the client's token ids: count sequences from offset. */
static int load_tokens(const opts_t *o, const vit_cfg_t *c, job_t *J)
{
    ids_buf_t b = {NULL, 0, 0};
    size_t L = (size_t)c->seq;
    int rc = looks_like_idx(o->input) ? read_ids_idx(o->input, c, &b) : read_ids_text(o->input, c, &b);
    if (!rc && o->offset + o->count > b.n / L) {
        fprintf(stderr, "spin-infer: %s: --offset %zu --count %zu needs %zu sequences; the file has %zu\n", o->input,
                o->offset, o->count, o->offset + o->count, b.n / L);
        rc = -1;
    }
    if (!rc) {
        J->ids = malloc(o->count * L * sizeof *J->ids);
        if (J->ids) memcpy(J->ids, b.v + o->offset * L, o->count * L * sizeof *J->ids);
        else rc = -1;
    }
    free(b.v);
    return rc;
}

static int load_check(const opts_t *o, const vit_cfg_t *c, job_t *J)
{
    st_file_t f;
    char msg[1024];
    if (st_read(o->check, &f, msg, sizeof msg)) {
        fprintf(stderr, "spin-infer: %s\n", msg);
        return -1;
    }
    const st_entry_t *e = st_find(&f, "logits");
    int rc = -1;
    if (!e || e->nd != 2 || e->shape[1] != (size_t)c->classes || e->shape[0] < o->offset + o->count) {
        fprintf(stderr, "spin-infer: %s: needs a tensor \"logits\" [>= %zu, %d]\n", o->check, o->offset + o->count,
                c->classes);
    } else {
        size_t sh[2] = {e->shape[0], e->shape[1]}, na, nr;
        /* st_read checked the file holds sh[0] x sh[1] values; as doubles
         * the sizes are checked again */
        int over = checked_mul3(sh[0], sh[1], sizeof(double), &na) || checked_mul3(o->count, sh[1], sizeof(double), &nr);
        double *all = over ? NULL : malloc(na);
        J->ref = over ? NULL : malloc(nr);
        if (!all || !J->ref)
            fprintf(stderr, "spin-infer: %s: out of memory for the %zu x %zu reference logits\n", o->check, sh[0],
                    sh[1]);
        if (all && J->ref && !st_get(&f, "logits", 2, sh, all, msg, sizeof msg)) {
            memcpy(J->ref, all + o->offset * sh[1], o->count * sh[1] * sizeof *all);
            rc = 0;
        } else if (all && J->ref) {
            fprintf(stderr, "spin-infer: %s\n", msg);
        }
        free(all);
    }
    st_free(&f);
    return rc;
}

static int argmax(const double *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static void report(const opts_t *o, const job_t *J, const double *logits, double secs, spin_ctx_t *ctx)
{
    int K = J->cfg.classes;
    const char *what = J->cfg.vocab ? "sequence" : "image";
    size_t correct = 0, agree = 0;
    double maxdiff = 0;
    for (size_t i = 0; i < o->count; i++) {
        const double *l = logits + i * (size_t)K;
        int p = argmax(l, K);
        if (J->labels) correct += p == J->labels[i];
        if (J->ref) {
            agree += p == argmax(J->ref + i * (size_t)K, K);
            for (int k = 0; k < K; k++) maxdiff = fmax(maxdiff, fabs(l[k] - J->ref[i * (size_t)K + k]));
        }
        if (!o->quiet) {
            printf("%s %zu: class %d", what, o->offset + i, p);
            if (J->labels) printf(" (label %d)", J->labels[i]);
            printf("\n");
        }
    }
    printf("%zu %ss in %.2f s (%.1f ms per %s)", o->count, what, secs, 1e3 * secs / (double)o->count, what);
    if (J->labels) printf(", accuracy %.2f%%", 100.0 * (double)correct / (double)o->count);
    printf("\n");
    if (J->ref)
        printf("against %s: prediction agrees on %zu/%zu, max |logit difference| %.3g\n", o->check, agree, o->count,
               maxdiff);
    if (o->save) {
        st_tensor_t t = {"logits", 2, {o->count, (size_t)K, 0, 0}, logits};
        char msg[1024];
        if (safetensors_write(o->save, &t, 1, msg, sizeof msg)) fprintf(stderr, "spin-infer: %s\n", msg);
        else printf("logits written to %s\n", o->save);
    }
    if (ctx) {
        spin_comm_stats_t s;
        if (!spin_ctx_stats(ctx, -1, &s))
            printf("party %d: %llu bytes sent, %llu received, %llu rounds\n", spin_ctx_party(ctx),
                   (unsigned long long)s.bytes_sent, (unsigned long long)s.bytes_recv, (unsigned long long)s.rounds);
    }
    fflush(stdout);
}

static int run_secure(spin_ctx_t *ctx, job_t *J)
{
    const opts_t *o = J->o;
    int me = spin_ctx_party(ctx), N = spin_ctx_nparties(ctx);
    int client = o->client < 0 ? N - 1 : o->client;
    if (o->owner >= N || client >= N) {
        if (me == 0) fprintf(stderr, "spin-infer: --owner %d / --client %d: parties are 0..%d\n", o->owner, client, N - 1);
        return SPIN_ERR_INVAL;
    }
    vit_shared_t s;
    double t0 = now();
    int rc = vit_share(ctx, me == o->owner ? &J->model : NULL, &J->cfg, o->owner, &o->vo, &s);
    if (rc) {
        fprintf(stderr, "spin-infer: party %d: sharing the model failed: %s\n", me, spin_strerror(rc));
        return rc;
    }
    double t1 = now();
    /* per input: pixels of an image or ids of a sequence */
    size_t K = (size_t)J->cfg.classes, px = J->cfg.vocab ? (size_t)J->cfg.seq : (size_t)J->cfg.image * (size_t)J->cfg.image;
    size_t nl;
    double *logits = me == client && !checked_mul(o->count, K, &nl) ? calloc(nl, sizeof *logits) : NULL;
    if (me == client && !logits) rc = SPIN_ERR_NOMEM;
    int tty = me == client && isatty(2);
    for (size_t i = 0; i < o->count && !rc; i += o->batch) {
        size_t b = o->count - i < o->batch ? o->count - i : o->batch;
        double *out = me == client ? logits + i * K : NULL;
        if (J->cfg.vocab) rc = vit_forward_secure_tokens(ctx, &s, client, me == client ? J->ids + i * px : NULL, b, out);
        else rc = vit_forward_secure(ctx, &s, client, me == client ? J->img + i * px : NULL, b, out);
        if (tty) {
            fprintf(stderr, "\rsecure inference: %zu/%zu %ss", i + b, o->count, J->cfg.vocab ? "sequence" : "image");
            fflush(stderr);
        }
    }
    if (tty) fputc('\n', stderr);
    double t2 = now();
    if (rc) fprintf(stderr, "spin-infer: party %d: secure forward pass failed: %s\n", me, spin_strerror(rc));
    else if (me == client) {
        printf("model shared in %.2f s\n", t1 - t0);
        report(o, J, logits, t2 - t1, ctx);
    } else if (!o->quiet) {
        spin_comm_stats_t st;
        if (!spin_ctx_stats(ctx, -1, &st))
            printf("party %d: done (%llu bytes sent, %llu rounds); the predictions went to party %d only\n", me,
                   (unsigned long long)st.bytes_sent, (unsigned long long)st.rounds, client);
    }
    free(logits);
    vit_shared_free(&s);
    return rc;
}

static int party_fn(spin_ctx_t *ctx, int party, void *arg)
{
    (void)party;
    return run_secure(ctx, arg);
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_opts(argc, argv, &o)) return 2;
    job_t J;
    memset(&J, 0, sizeof J);
    J.o = &o;
    char msg[2048];
    if (vit_load_config(o.config, &J.cfg, msg, sizeof msg)) {
        fprintf(stderr, "spin-infer: %s\n", msg);
        return 1;
    }
    if (J.cfg.vocab && !o.input) {
        fprintf(stderr, "spin-infer: %s is a token model: pass its token ids with --input FILE (a text file, one "
                        "sequence of %d ids per line, or IDX [N, %d])\n", o.config, J.cfg.seq, J.cfg.seq);
        return 2;
    }
    const char *envp = getenv("SPIN_PARTY");
    int under_run = envp && *envp;
    spin_ctx_t *ctx = NULL;
    int me = 0, N = o.parties, rc = 0;
    if (!o.plaintext && !o.parties && !under_run) {
        fprintf(stderr, "spin-infer: no party id: start it under spin-run (spin-run -n 2 spin-infer ...), or pass "
                        "--parties N to run every party here, or --plaintext\n");
        return 2;
    }
    if (!o.plaintext && under_run) {
        spin_ctx_opts_t co;
        memset(&co, 0, sizeof co);
        co.struct_size = sizeof co;
        co.party = -1;
        co.frac_bits = o.frac_bits;
        rc = spin_ctx_open(&co, &ctx);
        if (rc) {
            fprintf(stderr, "spin-infer: cannot join the computation: %s\n", spin_strerror(rc));
            return 1;
        }
        me = spin_ctx_party(ctx);
        N = spin_ctx_nparties(ctx);
    }
    int client = o.client < 0 ? (o.plaintext ? 0 : N - 1) : o.client;
    int all_here = o.plaintext || !under_run;
    /* each party loads what it owns: the owner the weights, the client the images */
    if ((all_here || me == o.owner) && vit_load(o.config, o.weights, &J.model, msg, sizeof msg)) {
        fprintf(stderr, "spin-infer: %s\n", msg);
        rc = 1;
    }
    if (!rc && (all_here || me == client)) {
        if (J.cfg.vocab ? load_tokens(&o, &J.cfg, &J) : load_images(&o, &J.cfg, &J)) rc = 1;
        if (!rc && o.check && load_check(&o, &J.cfg, &J)) rc = 1;
    }
    if (o.plaintext) {
        if (!rc) {
            size_t nl;
            double *logits = checked_mul3(o.count, (size_t)J.cfg.classes, sizeof(double), &nl) ? NULL : malloc(nl);
            double t0 = now();
            rc = !logits || (J.cfg.vocab ? vit_forward_plain_tokens(&J.model, J.ids, o.count, logits)
                                         : vit_forward_plain(&J.model, J.img, o.count, logits));
            if (!rc) report(&o, &J, logits, now() - t0, NULL);
            free(logits);
        }
    } else if (!under_run) {
        if (!rc) {
            spin_ctx_opts_t co;
            memset(&co, 0, sizeof co);
            co.struct_size = sizeof co;
            co.frac_bits = o.frac_bits;
            rc = spin_run_local(o.parties, "ipc", &co, party_fn, &J);
            if (rc) fprintf(stderr, "spin-infer: the secure run failed: %s\n", spin_strerror(rc));
        }
    } else {
        /* a party that could not load its part must not leave the others waiting */
        double ok = rc ? 0.0 : 1.0, got[64];
        size_t one = 1;
        int rc2 = 0;
        for (int p = 0; p < N && !rc2; p++) {
            spin_tensor_t *t = NULL;
            rc2 = spin_input_f64(ctx, p, p == me ? &ok : NULL, 1, &one, &t);
            if (!rc2) rc2 = spin_reveal_f64(ctx, t, -1, &got[p]);
            spin_tensor_free(t);
            if (!rc2 && got[p] < 0.5 && p != me)
                fprintf(stderr, "spin-infer: party %d: party %d could not load its inputs; stopping\n", me, p);
            if (!rc2 && got[p] < 0.5) rc = 1;
        }
        if (rc2) rc = rc2;
        if (!rc) rc = run_secure(ctx, &J);
        spin_ctx_close(ctx);
    }
    vit_free(&J.model);
    free(J.img);
    free(J.ids);
    free(J.labels);
    free(J.ref);
    return rc ? 1 : 0;
}
