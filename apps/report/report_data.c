/* report_data.c - spin-report's reader: a metrics file (JSON lines, one
 * object per line, parsed by libspinapp's json.c) into a metrics_t.  A
 * malformed line is an error naming the file, the line (and for syntax the
 * column) and the problem; fields and record types it does not know are
 * ignored (one note per unknown type). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "report.h"

void metrics_free(metrics_t *m)
{
    free(m->iters);
    free(m->epochs);
    for (size_t i = 0; i < m->n_layers; i++) free(m->layers[i].name);
    free(m->layers);
    json_free(m->run);
    for (size_t i = 0; i < m->n_unknown; i++) free(m->unknown_types[i]);
}

/* Context for semantic errors. */
typedef struct {
    const char *file;
    size_t line;
    const char *type;
    char err[400];
} rec_ctx_t;

static int rec_fail(rec_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rec_fail(rec_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

enum { NUM_OPTIONAL = 0, NUM_REQUIRED = 1, NUM_NULLABLE = 2, NUM_NONNEG = 4 };

/* Read number `key` of object o into *out.  Returns -1 on error, else 1 if a
 * number was present, 0 if absent (or null where NUM_NULLABLE). */
static int get_num(rec_ctx_t *c, const json_t *o, const char *where, const char *key, int flags, double *out)
{
    const json_t *v = json_get(o, key);
    if (!v || (v->type == JSON_NULL && (flags & NUM_NULLABLE))) {
        if (!v && (flags & NUM_REQUIRED))
            return rec_fail(c, "%s has no \"%s\" (a number)", where, key);
        return 0;
    }
    if (v->type != JSON_NUM)
        return rec_fail(c, "%s: \"%s\" must be a number%s, got %s", where, key,
                        (flags & NUM_NULLABLE) ? " or null" : "", json_kind(v));
    if ((flags & NUM_NONNEG) && v->num < 0)
        return rec_fail(c, "%s: \"%s\" must not be negative, got %g", where, key, v->num);
    *out = v->num;
    return 1;
}

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *np = realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static int add_iter(metrics_t *m, rec_ctx_t *c, const json_t *o)
{
    iter_rec_t r = {0};
    int k;
    const char *w = "\"iter\" record";
    if ((k = get_num(c, o, w, "epoch", NUM_NONNEG, &r.epoch)) < 0) return -1;
    r.has_epoch = k;
    if (get_num(c, o, w, "iter", NUM_NONNEG, &r.iter) < 0) return -1;
    const json_t *lv = json_get(o, "loss");
    if (!lv) return rec_fail(c, "%s has no \"loss\" (a number, or null if not known)", w);
    if ((k = get_num(c, o, w, "loss", NUM_NULLABLE, &r.loss)) < 0) return -1;
    r.has_loss = k;
    if (get_num(c, o, w, "time_s", NUM_NONNEG, &r.time_s) < 0) return -1;
    if (get_num(c, o, w, "bytes", NUM_NONNEG, &r.bytes) < 0) return -1;
    if (grow((void **)&m->iters, &m->cap_iters, m->n_iters, sizeof r)) return rec_fail(c, "out of memory");
    m->iters[m->n_iters++] = r;
    return 0;
}

static int add_epoch(metrics_t *m, rec_ctx_t *c, const json_t *o)
{
    epoch_rec_t r = {0};
    int k;
    const char *w = "\"epoch\" record";
    if (get_num(c, o, w, "epoch", NUM_REQUIRED | NUM_NONNEG, &r.epoch) < 0) return -1;
    if ((k = get_num(c, o, w, "test_acc", NUM_NULLABLE, &r.test_acc)) < 0) return -1;
    if (k && (r.test_acc < 0 || r.test_acc > 1))
        return rec_fail(c, "%s: \"test_acc\" must be a fraction in [0, 1], got %g%s", w, r.test_acc,
                        r.test_acc > 1 && r.test_acc <= 100 ? " (a percentage? divide by 100)" : "");
    r.has_acc = k;
    if ((k = get_num(c, o, w, "train_loss", NUM_NULLABLE, &r.train_loss)) < 0) return -1;
    r.has_train_loss = k;
    if ((k = get_num(c, o, w, "time_s", NUM_NONNEG, &r.time_s)) < 0) return -1;
    r.has_time = k;
    if (grow((void **)&m->epochs, &m->cap_epochs, m->n_epochs, sizeof r)) return rec_fail(c, "out of memory");
    m->epochs[m->n_epochs++] = r;
    return 0;
}

static int add_layers(metrics_t *m, rec_ctx_t *c, const json_t *o)
{
    const char *w = "\"layers\" record";
    double ep = 0;
    int k = get_num(c, o, w, "epoch", NUM_NONNEG, &ep);
    if (k < 0) return -1;
    const json_t *a = json_get(o, "layers");
    if (!a) return rec_fail(c, "%s has no \"layers\" (an array of {name, fwd_s, bwd_s, fwd_bytes, bwd_bytes})", w);
    if (a->type != JSON_ARR) return rec_fail(c, "%s: \"layers\" must be an array, got %s", w, json_kind(a));
    layer_rec_t *ls = calloc(a->n ? a->n : 1, sizeof *ls);
    if (!ls) return rec_fail(c, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        const json_t *e = a->items[i];
        char where[64];
        snprintf(where, sizeof where, "\"layers\" element %zu", i + 1);
        int bad = 0;
        if (e->type != JSON_OBJ) {
            bad = rec_fail(c, "%s must be an object {name, fwd_s, ...}, got %s", where, json_kind(e));
        } else {
            const json_t *nm = json_get(e, "name");
            if (!nm) bad = rec_fail(c, "%s has no \"name\" (a string)", where);
            else if (nm->type != JSON_STR) bad = rec_fail(c, "%s: \"name\" must be a string, got %s", where, json_kind(nm));
            else if (get_num(c, e, where, "fwd_s", NUM_NONNEG, &ls[i].fwd_s) < 0 ||
                     get_num(c, e, where, "bwd_s", NUM_NONNEG, &ls[i].bwd_s) < 0 ||
                     get_num(c, e, where, "fwd_bytes", NUM_NONNEG, &ls[i].fwd_bytes) < 0 ||
                     get_num(c, e, where, "bwd_bytes", NUM_NONNEG, &ls[i].bwd_bytes) < 0)
                bad = -1;
            else if (!(ls[i].name = strdup(nm->str)))
                bad = rec_fail(c, "out of memory");
        }
        if (bad) {
            for (size_t j = 0; j <= i; j++) free(ls[j].name);
            free(ls);
            return -1;
        }
    }
    for (size_t i = 0; i < m->n_layers; i++) free(m->layers[i].name);
    free(m->layers);
    m->layers = ls;
    m->n_layers = a->n;
    m->has_layers = 1;
    m->has_layers_epoch = k;
    m->layers_epoch = ep;
    return 0;
}

/* One parsed line; a "run" record is taken (*op set to NULL).  0, or -1
 * with c->err. */
static int add_record(metrics_t *m, rec_ctx_t *c, json_t **op)
{
    const json_t *o = *op;
    if (o->type != JSON_OBJ) return rec_fail(c, "expected a JSON object {\"type\": ...}, got %s", json_kind(o));
    const json_t *t = json_get(o, "type");
    if (!t) return rec_fail(c, "the object has no \"type\" (\"iter\", \"epoch\", \"layers\" or \"run\")");
    if (t->type != JSON_STR) return rec_fail(c, "\"type\" must be a string, got %s", json_kind(t));
    c->type = t->str;
    m->records++;
    if (strcmp(t->str, "iter") == 0) return add_iter(m, c, o);
    if (strcmp(t->str, "epoch") == 0) return add_epoch(m, c, o);
    if (strcmp(t->str, "layers") == 0) return add_layers(m, c, o);
    if (strcmp(t->str, "run") == 0) {
        if (!m->run) {
            m->run = *op;   /* take ownership */
            *op = NULL;
        }
        return 0;
    }
    /* A record type from a newer spin-train: ignored, said once. */
    for (size_t i = 0; i < m->n_unknown; i++)
        if (strcmp(m->unknown_types[i], t->str) == 0) return 0;
    fprintf(stderr, PROG ": %s:%zu: note: record type \"%.60s\" is not known; ignored\n", c->file, c->line, t->str);
    if (m->n_unknown < sizeof m->unknown_types / sizeof m->unknown_types[0]) {
        char *d = strdup(t->str);
        if (d) m->unknown_types[m->n_unknown++] = d;
    }
    return 0;
}

/* Read the whole metrics file.  0, or 1 after printing an error. */
int metrics_read(const char *path, metrics_t *m)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (!f) {
        fprintf(stderr, PROG ": %s: cannot open: %s%s\n", shown, strerror(errno),
                errno == ENOENT ? " (spin-train writes it with --metrics FILE)" : "");
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        if (strlen(line) != n) {
            fprintf(stderr, PROG ": %s:%zu: the line contains a NUL byte (is this a binary file?)\n", shown, lineno);
            rc = 1;
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        const char *s = line;
        if (lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) { s += 3; n -= 3; }   /* BOM */
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == n) continue;   /* blank line */
        json_error_t e;
        json_t *v = json_parse_text(s, n, JSON_LINE, &e);
        if (!v) {
            fprintf(stderr, PROG ": %s:%zu: column %zu: %s\n", shown, lineno, e.pos + 1, e.msg);
            rc = 1;
            break;
        }
        rec_ctx_t c = {shown, lineno, NULL, ""};
        if (add_record(m, &c, &v)) {
            fprintf(stderr, PROG ": %s:%zu: %s\n", shown, lineno, c.err);
            json_free(v);
            rc = 1;
            break;
        }
        json_free(v);
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, PROG ": %s: read error: %s\n", shown, strerror(errno));
        rc = 1;
    }
    free(line);
    if (f != stdin) fclose(f);
    if (rc == 0 && m->records == 0) {
        fprintf(stderr, PROG ": %s: no metrics records%s (expected one JSON object per line with a \"type\"; "
                "see apps/README.md)\n", shown, lineno == 0 ? ": the file is empty" : "");
        rc = 1;
    }
    return rc;
}

