/* spin-report - draws a metrics file (JSON lines, written by spin-train; the
 * format is in apps/README.md) as one SVG: the loss per iteration, the test
 * accuracy per epoch, and per-layer forward/backward time and bytes.
 *
 * Stand-alone: a small JSON parser for one value per line (objects, arrays,
 * strings, numbers, true/false/null) and an SVG writer.  Malformed input is
 * an error naming the file, the line and what is wrong (exit 1); fields and
 * record types it does not know are ignored.  Wrong arguments: exit 2. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "spin-report"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [--title TEXT] METRICS.jsonl -o REPORT.svg\n"
            "Draws the metrics file of a training run (one JSON object per line, as\n"
            "spin-train writes it; format in apps/README.md) as an SVG for a browser:\n"
            "the loss per iteration, the test accuracy per epoch, and the forward and\n"
            "backward time and bytes of every layer.\n"
            "  METRICS.jsonl     the metrics file (- for standard input)\n"
            "  -o, --output FILE the SVG to write (- for standard output)\n"
            "  --title TEXT      the report's title (default: the model's name)\n"
            "  -h, --help        this text\n"
            "Exit status: 0 report written, 1 unreadable or malformed metrics or a\n"
            "write error (the message names the line), 2 wrong arguments.\n");
}

/* ======================================================================
 * JSON values and the parser
 * ====================================================================== */

typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jtype_t;

typedef struct jv {
    jtype_t t;
    int b;              /* JV_BOOL */
    double num;         /* JV_NUM */
    char *str;          /* JV_STR: valid UTF-8, no NUL */
    size_t n;           /* JV_ARR items / JV_OBJ members */
    struct jv *items;   /* array items, object values */
    char **keys;        /* object keys */
} jv_t;

#define JSON_MAX_DEPTH 64

typedef struct {
    const char *s;
    size_t len, pos;
    int depth;
    char err[200];
    size_t err_pos;
} jp_t;

static void jv_free(jv_t *v)
{
    if (!v) return;
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items) jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static int jp_fail(jp_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jp_fail(jp_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->err_pos = p->pos;
    return -1;
}

static void jp_ws(jp_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
        p->pos++;
    }
}

/* Describe the character at the current position for an error message. */
static const char *jp_here(jp_t *p, char *buf, size_t len)
{
    if (p->pos >= p->len) return "the end of the line";
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7F) snprintf(buf, len, "'%c'", c);
    else snprintf(buf, len, "byte 0x%02x", c);
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_u4(jp_t *p, unsigned *out)
{
    if (p->pos + 4 > p->len) return jp_fail(p, "incomplete \\u escape in string");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + i]);
        if (h < 0) return jp_fail(p, "invalid \\u escape in string (4 hex digits expected)");
        v = v << 4 | (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    unsigned cp, min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { k = 2; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { k = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { k = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

static int jp_string(jp_t *p, char **out)
{
    /* p->s[p->pos] == '"' */
    size_t start = p->pos++;
    /* Decoded text is never longer than the source. */
    char *o = malloc(p->len - start + 1);
    if (!o) return jp_fail(p, "out of memory");
    size_t w = 0;
    for (;;) {
        if (p->pos >= p->len) {
            free(o);
            p->pos = start;
            return jp_fail(p, "unterminated string (no closing '\"' on this line)");
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) {
            free(o);
            return jp_fail(p, "control character 0x%02x in string (write it as an escape, e.g. \\n)", c);
        }
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len) {
                free(o);
                p->pos = start;
                return jp_fail(p, "unterminated string (no closing '\"' on this line)");
            }
            char e = p->s[p->pos++];
            switch (e) {
            case '"': o[w++] = '"'; break;
            case '\\': o[w++] = '\\'; break;
            case '/': o[w++] = '/'; break;
            case 'b': o[w++] = '\b'; break;
            case 'f': o[w++] = '\f'; break;
            case 'n': o[w++] = '\n'; break;
            case 'r': o[w++] = '\r'; break;
            case 't': o[w++] = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (read_u4(p, &cp)) { free(o); return -1; }
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    free(o);
                    return jp_fail(p, "unpaired low surrogate \\u%04x in string", cp);
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        free(o);
                        return jp_fail(p, "unpaired high surrogate \\u%04x in string", cp);
                    }
                    p->pos += 2;
                    if (read_u4(p, &lo)) { free(o); return -1; }
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        free(o);
                        return jp_fail(p, "high surrogate \\u%04x not followed by a low surrogate", cp);
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) {
                    free(o);
                    return jp_fail(p, "\\u0000 (NUL) is not allowed in strings here");
                }
                w += put_utf8(o + w, cp);
                break;
            }
            default:
                p->pos--;
                free(o);
                if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7F)
                    return jp_fail(p, "invalid escape '\\%c' in string", e);
                return jp_fail(p, "invalid escape in string");
            }
            continue;
        }
        size_t k = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (k == 0) {
            free(o);
            return jp_fail(p, "invalid UTF-8 (byte 0x%02x) in string", c);
        }
        memcpy(o + w, p->s + p->pos, k);
        w += k;
        p->pos += k;
    }
    o[w] = '\0';
    *out = o;
    return 0;
}

static int jp_number(jp_t *p, double *out)
{
    size_t i = p->pos, n = p->len;
    const char *s = p->s;
    if (i < n && s[i] == '-') i++;
    if (i >= n || !(s[i] >= '0' && s[i] <= '9')) return jp_fail(p, "invalid number (a digit must follow '-')");
    if (s[i] == '0') i++;
    else while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !(s[i] >= '0' && s[i] <= '9')) {
            p->pos = i;
            return jp_fail(p, "invalid number (a digit must follow '.')");
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !(s[i] >= '0' && s[i] <= '9')) {
            p->pos = i;
            return jp_fail(p, "invalid number (digits must follow the exponent)");
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    char buf[512];
    if (i - p->pos >= sizeof buf) return jp_fail(p, "number too long");
    memcpy(buf, s + p->pos, i - p->pos);
    buf[i - p->pos] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    if (!isfinite(v)) return jp_fail(p, "number %s is out of range", buf);
    p->pos = i;
    *out = v;
    return 0;
}

static int jp_value(jp_t *p, jv_t *v);

static int jp_grow(jp_t *p, jv_t *v, size_t *cap, int obj)
{
    if (v->n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    jv_t *ni = realloc(v->items, nc * sizeof *ni);
    if (!ni) return jp_fail(p, "out of memory");
    v->items = ni;
    if (obj) {
        char **nk = realloc(v->keys, nc * sizeof *nk);
        if (!nk) return jp_fail(p, "out of memory");
        v->keys = nk;
    }
    *cap = nc;
    return 0;
}

static int jp_array(jp_t *p, jv_t *v)
{
    char hb[16];
    size_t cap = 0;
    v->t = JV_ARR;
    p->pos++;   /* '[' */
    jp_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') { p->pos++; return 0; }
    for (;;) {
        if (jp_grow(p, v, &cap, 0)) return -1;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        if (jp_value(p, &v->items[v->n - 1])) return -1;
        jp_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == ']') { p->pos++; return 0; }
        return jp_fail(p, "expected ',' or ']' in array, found %s", jp_here(p, hb, sizeof hb));
    }
}

static int jp_object(jp_t *p, jv_t *v)
{
    char hb[16];
    size_t cap = 0;
    v->t = JV_OBJ;
    p->pos++;   /* '{' */
    jp_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') { p->pos++; return 0; }
    for (;;) {
        jp_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return jp_fail(p, "expected a member name in double quotes, found %s", jp_here(p, hb, sizeof hb));
        if (jp_grow(p, v, &cap, 1)) return -1;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->keys[v->n] = NULL;
        v->n++;
        if (jp_string(p, &v->keys[v->n - 1])) return -1;
        jp_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return jp_fail(p, "expected ':' after member name \"%.40s\", found %s", v->keys[v->n - 1],
                           jp_here(p, hb, sizeof hb));
        p->pos++;
        if (jp_value(p, &v->items[v->n - 1])) return -1;
        jp_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == '}') { p->pos++; return 0; }
        return jp_fail(p, "expected ',' or '}' in object, found %s", jp_here(p, hb, sizeof hb));
    }
}

static int jp_value(jp_t *p, jv_t *v)
{
    char hb[16];
    jp_ws(p);
    if (p->pos >= p->len) return jp_fail(p, "expected a value, found the end of the line");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (++p->depth > JSON_MAX_DEPTH) return jp_fail(p, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        int rc = c == '{' ? jp_object(p, v) : jp_array(p, v);
        p->depth--;
        return rc;
    }
    if (c == '"') {
        v->t = JV_STR;
        return jp_string(p, &v->str);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        v->t = JV_NUM;
        return jp_number(p, &v->num);
    }
    static const struct { const char *w; jtype_t t; int b; } lit[] = {
        {"true", JV_BOOL, 1}, {"false", JV_BOOL, 0}, {"null", JV_NULL, 0}};
    for (size_t i = 0; i < sizeof lit / sizeof lit[0]; i++) {
        size_t l = strlen(lit[i].w);
        if (p->len - p->pos >= l && memcmp(p->s + p->pos, lit[i].w, l) == 0) {
            p->pos += l;
            v->t = lit[i].t;
            v->b = lit[i].b;
            return 0;
        }
    }
    if (c == 'N' || c == 'I' || c == 'n' || c == 'i')
        return jp_fail(p, "expected a value, found %s (NaN and Infinity are not JSON: write null)",
                       jp_here(p, hb, sizeof hb));
    return jp_fail(p, "expected a value, found %s", jp_here(p, hb, sizeof hb));
}

/* Parse one line holding one JSON value.  0, or -1 with p->err. */
static int json_parse_line(const char *s, size_t len, jv_t *v, jp_t *p)
{
    memset(p, 0, sizeof *p);
    memset(v, 0, sizeof *v);
    p->s = s;
    p->len = len;
    if (jp_value(p, v)) {
        jv_free(v);
        return -1;
    }
    jp_ws(p);
    if (p->pos < p->len) {
        char hb[16];
        jp_fail(p, "unexpected %s after the end of the JSON value (one object per line)",
                jp_here(p, hb, sizeof hb));
        jv_free(v);
        return -1;
    }
    return 0;
}

/* The last member named key (JSON leaves duplicates open; last wins). */
static const jv_t *jv_get(const jv_t *o, const char *key)
{
    if (o->t != JV_OBJ) return NULL;
    for (size_t i = o->n; i-- > 0;)
        if (strcmp(o->keys[i], key) == 0) return &o->items[i];
    return NULL;
}

static const char *jv_kind(const jv_t *v)
{
    switch (v->t) {
    case JV_NULL: return "null";
    case JV_BOOL: return "a boolean";
    case JV_NUM: return "a number";
    case JV_STR: return "a string";
    case JV_ARR: return "an array";
    default: return "an object";
    }
}

/* ======================================================================
 * Metrics records
 * ====================================================================== */

typedef struct { double epoch, iter, loss, time_s, bytes; int has_epoch, has_loss; } iter_rec_t;
typedef struct { double epoch, test_acc, train_loss, time_s; int has_acc, has_train_loss, has_time; } epoch_rec_t;
typedef struct { char *name; double fwd_s, bwd_s, fwd_bytes, bwd_bytes; } layer_rec_t;

typedef struct {
    iter_rec_t *iters;
    size_t n_iters, cap_iters;
    epoch_rec_t *epochs;
    size_t n_epochs, cap_epochs;
    layer_rec_t *layers;        /* from the last "layers" record */
    size_t n_layers;
    double layers_epoch;
    int has_layers, has_layers_epoch;
    jv_t run;                   /* the first "run" record (JV_NULL if none) */
    int has_run;
    size_t records;
    char *unknown_types[8];     /* record types warned about once */
    size_t n_unknown;
} metrics_t;

static void metrics_free(metrics_t *m)
{
    free(m->iters);
    free(m->epochs);
    for (size_t i = 0; i < m->n_layers; i++) free(m->layers[i].name);
    free(m->layers);
    jv_free(&m->run);
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
static int get_num(rec_ctx_t *c, const jv_t *o, const char *where, const char *key, int flags, double *out)
{
    const jv_t *v = jv_get(o, key);
    if (!v || (v->t == JV_NULL && (flags & NUM_NULLABLE))) {
        if (!v && (flags & NUM_REQUIRED))
            return rec_fail(c, "%s has no \"%s\" (a number)", where, key);
        return 0;
    }
    if (v->t != JV_NUM)
        return rec_fail(c, "%s: \"%s\" must be a number%s, got %s", where, key,
                        (flags & NUM_NULLABLE) ? " or null" : "", jv_kind(v));
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

static int add_iter(metrics_t *m, rec_ctx_t *c, const jv_t *o)
{
    iter_rec_t r = {0};
    int k;
    const char *w = "\"iter\" record";
    if ((k = get_num(c, o, w, "epoch", NUM_NONNEG, &r.epoch)) < 0) return -1;
    r.has_epoch = k;
    if (get_num(c, o, w, "iter", NUM_NONNEG, &r.iter) < 0) return -1;
    const jv_t *lv = jv_get(o, "loss");
    if (!lv) return rec_fail(c, "%s has no \"loss\" (a number, or null if not known)", w);
    if ((k = get_num(c, o, w, "loss", NUM_NULLABLE, &r.loss)) < 0) return -1;
    r.has_loss = k;
    if (get_num(c, o, w, "time_s", NUM_NONNEG, &r.time_s) < 0) return -1;
    if (get_num(c, o, w, "bytes", NUM_NONNEG, &r.bytes) < 0) return -1;
    if (grow((void **)&m->iters, &m->cap_iters, m->n_iters, sizeof r)) return rec_fail(c, "out of memory");
    m->iters[m->n_iters++] = r;
    return 0;
}

static int add_epoch(metrics_t *m, rec_ctx_t *c, const jv_t *o)
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

static int add_layers(metrics_t *m, rec_ctx_t *c, const jv_t *o)
{
    const char *w = "\"layers\" record";
    double ep = 0;
    int k = get_num(c, o, w, "epoch", NUM_NONNEG, &ep);
    if (k < 0) return -1;
    const jv_t *a = jv_get(o, "layers");
    if (!a) return rec_fail(c, "%s has no \"layers\" (an array of {name, fwd_s, bwd_s, fwd_bytes, bwd_bytes})", w);
    if (a->t != JV_ARR) return rec_fail(c, "%s: \"layers\" must be an array, got %s", w, jv_kind(a));
    layer_rec_t *ls = calloc(a->n ? a->n : 1, sizeof *ls);
    if (!ls) return rec_fail(c, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        const jv_t *e = &a->items[i];
        char where[64];
        snprintf(where, sizeof where, "\"layers\" element %zu", i + 1);
        int bad = 0;
        if (e->t != JV_OBJ) {
            bad = rec_fail(c, "%s must be an object {name, fwd_s, ...}, got %s", where, jv_kind(e));
        } else {
            const jv_t *nm = jv_get(e, "name");
            if (!nm) bad = rec_fail(c, "%s has no \"name\" (a string)", where);
            else if (nm->t != JV_STR) bad = rec_fail(c, "%s: \"name\" must be a string, got %s", where, jv_kind(nm));
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

/* One parsed line.  0, or -1 with c->err. */
static int add_record(metrics_t *m, rec_ctx_t *c, jv_t *o)
{
    if (o->t != JV_OBJ) return rec_fail(c, "expected a JSON object {\"type\": ...}, got %s", jv_kind(o));
    const jv_t *t = jv_get(o, "type");
    if (!t) return rec_fail(c, "the object has no \"type\" (\"iter\", \"epoch\", \"layers\" or \"run\")");
    if (t->t != JV_STR) return rec_fail(c, "\"type\" must be a string, got %s", jv_kind(t));
    c->type = t->str;
    m->records++;
    if (strcmp(t->str, "iter") == 0) return add_iter(m, c, o);
    if (strcmp(t->str, "epoch") == 0) return add_epoch(m, c, o);
    if (strcmp(t->str, "layers") == 0) return add_layers(m, c, o);
    if (strcmp(t->str, "run") == 0) {
        if (!m->has_run) {
            m->run = *o;   /* take ownership */
            memset(o, 0, sizeof *o);
            m->has_run = 1;
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
static int read_metrics(const char *path, metrics_t *m)
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
        jv_t v;
        jp_t p;
        if (json_parse_line(s, n, &v, &p)) {
            fprintf(stderr, PROG ": %s:%zu: column %zu: %s\n", shown, lineno, p.err_pos + 1, p.err);
            rc = 1;
            break;
        }
        rec_ctx_t c = {shown, lineno, NULL, ""};
        if (add_record(m, &c, &v)) {
            fprintf(stderr, PROG ": %s:%zu: %s\n", shown, lineno, c.err);
            jv_free(&v);
            rc = 1;
            break;
        }
        jv_free(&v);
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

/* ======================================================================
 * SVG
 * ====================================================================== */

#define W 960.0
#define PAD_L 80.0
#define PAD_R 30.0
#define C_LOSS "#1f77b4"
#define C_TRAIN "#d62728"
#define C_ACC "#2ca02c"
#define C_FWD "#4e79a7"
#define C_BWD "#f28e2b"
#define C_GRID "#e5e5e5"
#define C_AXIS "#444"

/* XML-escaped text; characters XML 1.0 forbids become '?'.  At most max
 * characters (code points), with an ellipsis when cut (max 0: no limit). */
static void xml_text(FILE *f, const char *s, size_t max)
{
    size_t chars = 0;
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if ((*u & 0xC0) != 0x80) {
            if (max && chars == max) { fputs("\xE2\x80\xA6", f); return; }
            chars++;
        }
        switch (*u) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (*u < 0x20 && *u != '\t') fputc('?', f);
            else if (*u == 0xEF && u[1] == 0xBF && (u[2] == 0xBE || u[2] == 0xBF)) { fputc('?', f); u += 2; }
            else fputc(*u, f);
        }
    }
}

/* A number for a label: plain digits in the usual ranges (200000, 0.0025),
 * no trailing zeros; exponents only for very large or small values. */
static const char *fmt_num(double v, char *buf, size_t len)
{
    if (fabs(v) < 1e-12) v = 0;
    double a = fabs(v);
    snprintf(buf, len, a == 0 || (a >= 1e-4 && a < 1e7) ? "%.6g" : "%.3g", v);
    return buf;
}

/* Bytes in IEC units. */
static const char *fmt_bytes(double b, char *buf, size_t len)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (b >= 1024 && i < 5) { b /= 1024; i++; }
    snprintf(buf, len, i ? "%.3g %s" : "%.0f %s", b, u[i]);
    return buf;
}

static const char *fmt_time(double s, char *buf, size_t len)
{
    if (s >= 3600) snprintf(buf, len, "%.0fh %02.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
    else if (s >= 60) snprintf(buf, len, "%.0fm %02.0fs", floor(s / 60), fmod(s, 60));
    else if (s >= 1 || s == 0) snprintf(buf, len, "%.3g s", s);
    else snprintf(buf, len, "%.3g ms", s * 1e3);
    return buf;
}

static double nicenum(double x, int round_)
{
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

typedef struct { double lo, hi, step; } axis_t;

/* Ticks over [lo, hi]; expand: widen lo/hi to whole steps; integer: steps >= 1. */
static axis_t make_axis(double lo, double hi, int ticks, int expand, int integer)
{
    axis_t a;
    if (!(hi > lo)) {
        double pad = integer ? 1 : (fabs(lo) > 0 ? fabs(lo) * 0.1 : 1);
        lo -= pad;
        hi += pad;
    }
    a.step = nicenum(nicenum(hi - lo, 0) / (ticks - 1), 1);
    if (integer && a.step < 1) a.step = 1;
    if (expand) {
        lo = floor(lo / a.step) * a.step;
        hi = ceil(hi / a.step) * a.step;
    }
    a.lo = lo;
    a.hi = hi;
    return a;
}

typedef struct { double x0, y0, w, h; axis_t x, y; } frame_t;

static double fx(const frame_t *fr, double x) { return fr->x0 + (x - fr->x.lo) / (fr->x.hi - fr->x.lo) * fr->w; }
static double fy(const frame_t *fr, double y) { return fr->y0 + fr->h - (y - fr->y.lo) / (fr->y.hi - fr->y.lo) * fr->h; }

/* Grid, ticks, tick labels and axis titles of a plot. */
static void draw_frame(FILE *f, const frame_t *fr, const char *xlabel, const char *ylabel)
{
    char b[64];
    fprintf(f, "<g class=\"axes\" font-size=\"11\" fill=\"%s\">\n", C_AXIS);
    for (int i = 0;; i++) {
        double v = ceil(fr->y.lo / fr->y.step - 1e-9) * fr->y.step + i * fr->y.step;
        if (v > fr->y.hi + fr->y.step * 1e-9) break;
        double y = fy(fr, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", fr->x0, y,
                fr->x0 + fr->w, y, C_GRID);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", fr->x0 - 6, y + 4,
                fmt_num(v, b, sizeof b));
    }
    for (int i = 0;; i++) {
        double v = ceil(fr->x.lo / fr->x.step - 1e-9) * fr->x.step + i * fr->x.step;
        if (v > fr->x.hi + fr->x.step * 1e-9) break;
        double x = fx(fr, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x, fr->y0 + fr->h,
                x, fr->y0 + fr->h + 4, C_AXIS);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", x, fr->y0 + fr->h + 16,
                fmt_num(v, b, sizeof b));
    }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"%s\"/>\n",
            fr->x0, fr->y0, fr->w, fr->h, C_AXIS);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", fr->x0 + fr->w / 2, fr->y0 + fr->h + 32);
    xml_text(f, xlabel, 0);
    fprintf(f, "</text>\n<text transform=\"translate(%.2f %.2f) rotate(-90)\" text-anchor=\"middle\">",
            fr->x0 - 52, fr->y0 + fr->h / 2);
    xml_text(f, ylabel, 0);
    fputs("</text>\n</g>\n", f);
}

static void panel_title(FILE *f, double y, const char *title)
{
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"15\" font-weight=\"bold\">", PAD_L, y);
    xml_text(f, title, 0);
    fputs("</text>\n", f);
}

static void no_data(FILE *f, double y, double h, const char *what)
{
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#fafafa\" stroke=\"%s\"/>\n",
            PAD_L, y, W - PAD_L - PAD_R, h, C_GRID);
    fprintf(f, "<text class=\"no-data\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#888\">", W / 2,
            y + h / 2);
    xml_text(f, what, 0);
    fputs("</text>\n", f);
}

/* The loss panel, at y; returns its height. */
static double draw_loss(FILE *f, const metrics_t *m, double y)
{
    const double h = 240;
    fputs("<g id=\"loss\">\n", f);
    size_t npts = 0;
    for (size_t i = 0; i < m->n_iters; i++) npts += m->iters[i].has_loss;
    size_t ntrain = 0;
    for (size_t i = 0; i < m->n_epochs; i++) ntrain += m->epochs[i].has_train_loss;
    if (npts == 0 && ntrain == 0) {
        panel_title(f, y + 18, "Training loss");
        no_data(f, y + 30, h - 80, "no loss in the metrics file (no \"iter\" records with a loss)");
        fputs("</g>\n", f);
        return h;
    }
    int by_iter = npts > 0;
    panel_title(f, y + 18, by_iter ? "Training loss per iteration" : "Training loss per epoch");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < m->n_iters; i++)
        if (m->iters[i].has_loss) { lo = fmin(lo, m->iters[i].loss); hi = fmax(hi, m->iters[i].loss); }
    for (size_t i = 0; i < m->n_epochs; i++)
        if (m->epochs[i].has_train_loss) {
            lo = fmin(lo, m->epochs[i].train_loss);
            hi = fmax(hi, m->epochs[i].train_loss);
        }
    frame_t fr = {PAD_L, y + 30, W - PAD_L - PAD_R, h - 80, {0, 0, 0}, make_axis(lo, hi, 6, 1, 0)};
    if (by_iter) fr.x = make_axis(1, (double)m->n_iters, 10, 0, 1);
    else {
        double elo = INFINITY, ehi = -INFINITY;
        for (size_t i = 0; i < m->n_epochs; i++)
            if (m->epochs[i].has_train_loss) { elo = fmin(elo, m->epochs[i].epoch); ehi = fmax(ehi, m->epochs[i].epoch); }
        fr.x = make_axis(elo, ehi, 10, 0, 1);
    }
    draw_frame(f, &fr, by_iter ? "iteration (\"iter\" records in file order)" : "epoch", "loss");
    if (by_iter) {
        /* Epoch boundaries: where the epoch number changes. */
        double last_label = -1e9;
        for (size_t i = 1; i < m->n_iters; i++) {
            const iter_rec_t *a = &m->iters[i - 1], *b = &m->iters[i];
            if (!a->has_epoch || !b->has_epoch || a->epoch == b->epoch) continue;
            double x = fx(&fr, (double)i + 0.5);
            fprintf(f, "<line class=\"epoch-mark\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#bbb\" "
                    "stroke-dasharray=\"4 3\"/>\n", x, fr.y0, x, fr.y0 + fr.h);
            if (x - last_label > 50) {
                char nb[32];
                fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"#888\">epoch %s</text>\n", x + 3,
                        fr.y0 + 11, fmt_num(b->epoch, nb, sizeof nb));
                last_label = x;
            }
        }
        /* At most ~2 points per pixel: average buckets of iterations. */
        size_t per = m->n_iters / (size_t)(fr.w * 2) + 1, nbk = (m->n_iters + per - 1) / per;
        double *bx = malloc(nbk * sizeof *bx), *by = malloc(nbk * sizeof *by);
        if (bx && by) {
            for (size_t k = 0; k < nbk; k++) {
                double sum = 0, xs = 0;
                size_t cnt = 0;
                for (size_t j = k * per; j < (k + 1) * per && j < m->n_iters; j++)
                    if (m->iters[j].has_loss) { sum += m->iters[j].loss; xs += (double)j + 1; cnt++; }
                bx[k] = cnt ? xs / (double)cnt : NAN;   /* NAN: no loss here, the line breaks */
                by[k] = cnt ? sum / (double)cnt : NAN;
            }
            fputs("<path class=\"loss-line\" fill=\"none\" stroke=\"" C_LOSS "\" stroke-width=\"1.5\" d=\"", f);
            int pen = 0, first = 1;
            for (size_t k = 0; k < nbk; k++) {
                if (isnan(by[k])) { pen = 0; continue; }
                fprintf(f, "%s%.2f %.2f", pen ? " L" : first ? "M" : " M", fx(&fr, bx[k]), fy(&fr, by[k]));
                pen = 1;
                first = 0;
            }
            fputs("\"/>\n", f);
            /* A point with no neighbour draws no line: a dot instead. */
            for (size_t k = 0; k < nbk; k++)
                if (!isnan(by[k]) && (k == 0 || isnan(by[k - 1])) && (k + 1 == nbk || isnan(by[k + 1])))
                    fprintf(f, "<circle class=\"loss-dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"2\" fill=\"" C_LOSS "\"/>\n",
                            fx(&fr, bx[k]), fy(&fr, by[k]));
        }
        free(bx);
        free(by);
        /* The epoch means (train_loss) at the last iteration of their epoch. */
        for (size_t e = 0; e < m->n_epochs; e++) {
            if (!m->epochs[e].has_train_loss) continue;
            size_t at = 0;
            for (size_t i = 0; i < m->n_iters; i++)
                if (m->iters[i].has_epoch && m->iters[i].epoch == m->epochs[e].epoch) at = i + 1;
            if (!at) continue;
            char nb[32];
            fprintf(f, "<circle class=\"train-loss-point\" cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"" C_TRAIN
                    "\"><title>epoch %s: train loss ", fx(&fr, (double)at), fy(&fr, m->epochs[e].train_loss),
                    fmt_num(m->epochs[e].epoch, nb, sizeof nb));
            fprintf(f, "%s</title></circle>\n", fmt_num(m->epochs[e].train_loss, nb, sizeof nb));
        }
    } else {
        fputs("<path class=\"loss-line\" fill=\"none\" stroke=\"" C_TRAIN "\" stroke-width=\"1.5\" d=\"", f);
        int first = 1;
        for (size_t e = 0; e < m->n_epochs; e++) {
            if (!m->epochs[e].has_train_loss) continue;
            fprintf(f, "%s%.2f %.2f", first ? "M" : " L", fx(&fr, m->epochs[e].epoch), fy(&fr, m->epochs[e].train_loss));
            first = 0;
        }
        fputs("\"/>\n", f);
    }
    /* Legend. */
    double lx = fr.x0 + fr.w - 230, ly = y + 14;
    if (by_iter) {
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" C_LOSS "\" stroke-width=\"2\"/>"
                "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">iteration loss</text>\n", lx, ly, lx + 18, ly,
                lx + 22, ly + 4);
        if (ntrain)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"" C_TRAIN "\"/>"
                    "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">epoch train loss</text>\n", lx + 115, ly,
                    lx + 122, ly + 4);
    }
    fputs("</g>\n", f);
    return h;
}

static double draw_accuracy(FILE *f, const metrics_t *m, double y)
{
    const double h = 220;
    fputs("<g id=\"accuracy\">\n", f);
    panel_title(f, y + 18, "Test accuracy per epoch");
    size_t n = 0;
    double lo = INFINITY, hi = -INFINITY, elo = INFINITY, ehi = -INFINITY;
    for (size_t i = 0; i < m->n_epochs; i++) {
        const epoch_rec_t *e = &m->epochs[i];
        if (!e->has_acc) continue;
        n++;
        lo = fmin(lo, e->test_acc * 100);
        hi = fmax(hi, e->test_acc * 100);
        elo = fmin(elo, e->epoch);
        ehi = fmax(ehi, e->epoch);
    }
    if (n == 0) {
        no_data(f, y + 30, h - 80, "no test accuracy in the metrics file (no \"epoch\" records with test_acc)");
        fputs("</g>\n", f);
        return h;
    }
    /* Some room around the data, within 0..100 %. */
    double pad = fmax((hi - lo) * 0.1, 1);
    axis_t ya = make_axis(fmax(lo - pad, 0), fmin(hi + pad, 100), 6, 1, 0);
    if (ya.lo < 0) ya.lo = 0;
    if (ya.hi > 100) ya.hi = 100;
    frame_t fr = {PAD_L, y + 30, W - PAD_L - PAD_R, h - 80, make_axis(elo, ehi, 10, 0, 1), ya};
    if (fr.x.lo == elo) { fr.x.lo -= 0.5; }
    if (fr.x.hi == ehi) { fr.x.hi += 0.5; }
    draw_frame(f, &fr, "epoch", "test accuracy (%)");
    fputs("<path class=\"acc-line\" fill=\"none\" stroke=\"" C_ACC "\" stroke-width=\"2\" d=\"", f);
    int first = 1;
    for (size_t i = 0; i < m->n_epochs; i++) {
        const epoch_rec_t *e = &m->epochs[i];
        if (!e->has_acc) continue;
        fprintf(f, "%s%.2f %.2f", first ? "M" : " L", fx(&fr, e->epoch), fy(&fr, e->test_acc * 100));
        first = 0;
    }
    fputs("\"/>\n", f);
    for (size_t i = 0; i < m->n_epochs; i++) {
        const epoch_rec_t *e = &m->epochs[i];
        if (!e->has_acc) continue;
        char nb[32], ab[32];
        double cx = fx(&fr, e->epoch), cy = fy(&fr, e->test_acc * 100);
        fprintf(f, "<circle class=\"acc-point\" cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"" C_ACC "\">"
                "<title>epoch %s: %.2f %%</title></circle>\n", cx, cy, fmt_num(e->epoch, nb, sizeof nb),
                e->test_acc * 100);
        if (n <= 25) {
            snprintf(ab, sizeof ab, "%.2f", e->test_acc * 100);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" text-anchor=\"middle\" fill=\"#333\">%s</text>\n",
                    cx, cy - 7, ab);
        }
    }
    fputs("</g>\n", f);
    return h;
}

/* One horizontal bar chart of the layers: fwd and bwd per layer. */
static void layer_bars(FILE *f, const metrics_t *m, double x0, double y0, double w, int bytes)
{
    double max = 0, scale = 1;
    const char *unit = bytes ? "B" : "s";
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer_rec_t *l = &m->layers[i];
        max = fmax(max, bytes ? fmax(l->fwd_bytes, l->bwd_bytes) : fmax(l->fwd_s, l->bwd_s));
    }
    if (bytes) {
        static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int k = 0;
        while (max / scale >= 1024 && k < 4) { scale *= 1024; k++; }
        unit = u[k];
    } else if (max > 0 && max < 1) {
        scale = 1e-3;
        unit = "ms";
    }
    const double row = 24, h = row * (double)m->n_layers;
    frame_t fr = {x0, y0, w, h, make_axis(0, max > 0 ? max / scale : 1, 5, 1, 0), {0, 1, 1}};
    char label[64];
    snprintf(label, sizeof label, "%s per layer (%s)", bytes ? "communication" : "time", unit);
    /* x axis only (the layer names are the y axis). */
    char b[64];
    fprintf(f, "<g class=\"axes\" font-size=\"11\" fill=\"%s\">\n", C_AXIS);
    for (int i = 0;; i++) {
        double v = fr.x.lo + i * fr.x.step;
        if (v > fr.x.hi + fr.x.step * 1e-9) break;
        double x = fx(&fr, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x, y0, x, y0 + h, C_GRID);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", x, y0 + h + 15,
                fmt_num(v, b, sizeof b));
    }
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x0, y0, x0, y0 + h, C_AXIS);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n</g>\n", x0 + w / 2, y0 + h + 31, label);
    const char *cls = bytes ? "bytes" : "time";
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer_rec_t *l = &m->layers[i];
        double fv = bytes ? l->fwd_bytes : l->fwd_s, bv = bytes ? l->bwd_bytes : l->bwd_s;
        double ry = y0 + row * (double)i + 3;
        char t1[48], t2[48];
        fprintf(f, "<rect class=\"bar-fwd-%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"8\" fill=\"" C_FWD "\">"
                "<title>", cls, x0, ry, fx(&fr, fv / scale) - x0);
        xml_text(f, l->name, 0);
        fprintf(f, " forward: %s</title></rect>\n", bytes ? fmt_bytes(fv, t1, sizeof t1) : fmt_time(fv, t1, sizeof t1));
        fprintf(f, "<rect class=\"bar-bwd-%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"8\" fill=\"" C_BWD "\">"
                "<title>", cls, x0, ry + 9, fx(&fr, bv / scale) - x0);
        xml_text(f, l->name, 0);
        fprintf(f, " backward: %s</title></rect>\n", bytes ? fmt_bytes(bv, t2, sizeof t2) : fmt_time(bv, t2, sizeof t2));
    }
}

static double draw_layers(FILE *f, const metrics_t *m, double y)
{
    fputs("<g id=\"layers\">\n", f);
    char title[96], nb[32];
    if (m->has_layers && m->has_layers_epoch)
        snprintf(title, sizeof title, "Per-layer time and communication (epoch %s)", fmt_num(m->layers_epoch, nb, sizeof nb));
    else
        snprintf(title, sizeof title, "Per-layer time and communication");
    panel_title(f, y + 18, title);
    if (m->n_layers == 0) {
        no_data(f, y + 30, 80, m->has_layers ? "the \"layers\" record lists no layers"
                                              : "no per-layer data in the metrics file (no \"layers\" record)");
        fputs("</g>\n", f);
        return 130;
    }
    /* Legend. */
    double ly = y + 14, lx = W - PAD_R - 200;
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"8\" fill=\"" C_FWD "\"/>"
            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">forward</text>\n", lx, ly - 6, lx + 16, ly + 2);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"8\" fill=\"" C_BWD "\"/>"
            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">backward</text>\n", lx + 80, ly - 6, lx + 96, ly + 2);
    const double names_w = 130, gap = 40, top = y + 34;
    const double cw = (W - PAD_R - 10 - names_w - gap) / 2;
    for (size_t i = 0; i < m->n_layers; i++) {
        fprintf(f, "<text class=\"layer-name\" x=\"%.2f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\">",
                10 + names_w - 6, top + 24 * (double)i + 15);
        xml_text(f, m->layers[i].name, 18);
        fputs("</text>\n", f);
    }
    layer_bars(f, m, 10 + names_w, top, cw, 0);
    layer_bars(f, m, 10 + names_w + cw + gap, top, cw, 1);
    fputs("</g>\n", f);
    return 34 + 24 * (double)m->n_layers + 50;
}

/* Title and one line about the run. */
static double draw_header(FILE *f, const metrics_t *m, const char *title)
{
    const jv_t *model = m->has_run ? jv_get(&m->run, "model") : NULL;
    fputs("<g id=\"header\">\n<text x=\"20\" y=\"30\" font-size=\"20\" font-weight=\"bold\">", f);
    if (title) xml_text(f, title, 0);
    else {
        fputs("Spin training report", f);
        if (model && model->t == JV_STR) {
            fputs(": ", f);
            xml_text(f, model->str, 60);
        }
    }
    fputs("</text>\n", f);
    /* Every scalar of the run record, in file order. */
    fputs("<text class=\"run\" x=\"20\" y=\"52\" font-size=\"12\" fill=\"#333\">", f);
    int any = 0;
    for (size_t i = 0; m->has_run && i < m->run.n && i < 16; i++) {
        const char *k = m->run.keys[i];
        const jv_t *v = &m->run.items[i];
        if (strcmp(k, "type") == 0 || v->t == JV_ARR || v->t == JV_OBJ || v->t == JV_NULL) continue;
        if (jv_get(&m->run, k) != v) continue;   /* a duplicate: the last one shows */
        char nb[40];
        fputs(any ? "  \xC2\xB7  " : "", f);
        xml_text(f, k, 24);
        fputs(" ", f);
        if (v->t == JV_STR) xml_text(f, v->str, 40);
        else if (v->t == JV_BOOL) fputs(v->b ? "true" : "false", f);
        else fputs(fmt_num(v->num, nb, sizeof nb), f);
        any = 1;
    }
    if (!any) fputs("(no \"run\" record)", f);
    fputs("</text>\n", f);
    /* Totals. */
    double t = 0, bytes = 0, last_acc = -1, last_epoch = 0;
    int have_t = 0;
    for (size_t i = 0; i < m->n_epochs; i++) {
        if (m->epochs[i].has_time) { t += m->epochs[i].time_s; have_t = 1; }
        if (m->epochs[i].has_acc) { last_acc = m->epochs[i].test_acc; last_epoch = m->epochs[i].epoch; }
    }
    for (size_t i = 0; i < m->n_iters; i++) bytes += m->iters[i].bytes;
    if (!have_t)
        for (size_t i = 0; i < m->n_iters; i++) { t += m->iters[i].time_s; have_t |= m->iters[i].time_s > 0; }
    char tb[48], bb[48], nb[32];
    fprintf(f, "<text class=\"totals\" x=\"20\" y=\"70\" font-size=\"12\" fill=\"#333\">%zu iterations, %zu epochs",
            m->n_iters, m->n_epochs);
    if (have_t) fprintf(f, "  \xC2\xB7  time %s", fmt_time(t, tb, sizeof tb));
    if (bytes > 0) fprintf(f, "  \xC2\xB7  sent %s", fmt_bytes(bytes, bb, sizeof bb));
    if (last_acc >= 0)
        fprintf(f, "  \xC2\xB7  test accuracy %.2f %% (epoch %s)", last_acc * 100, fmt_num(last_epoch, nb, sizeof nb));
    fputs("</text>\n</g>\n", f);
    return 84;
}

static int write_svg(FILE *f, const metrics_t *m, const char *title)
{
    /* The height depends on the number of layers: draw into memory first. */
    char *body = NULL;
    size_t blen = 0;
    FILE *mf = open_memstream(&body, &blen);
    if (!mf) return -1;
    double y = draw_header(mf, m, title);
    y += draw_loss(mf, m, y);
    y += draw_accuracy(mf, m, y);
    y += draw_layers(mf, m, y);
    if (fclose(mf) != 0) { free(body); return -1; }
    double h = ceil(y + 10);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n", W, h, W, h);
    fwrite(body, 1, blen, f);
    fputs("</svg>\n", f);
    free(body);
    return ferror(f) ? -1 : 0;
}

/* Write to path through a temporary file and rename, so that a failure never
 * leaves half a report. 0 or 1 (message printed). */
static int output(const char *path, const metrics_t *m, const char *title)
{
    if (strcmp(path, "-") == 0) {
        if (write_svg(stdout, m, title) || fflush(stdout)) {
            fprintf(stderr, PROG ": cannot write the SVG to standard output: %s\n", strerror(errno));
            return 1;
        }
        return 0;
    }
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp) { fprintf(stderr, PROG ": out of memory\n"); return 1; }
    snprintf(tmp, len, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, PROG ": %s: cannot create: %s\n", path, strerror(errno));
        free(tmp);
        return 1;
    }
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    FILE *f = fdopen(fd, "w");
    int rc = !f || write_svg(f, m, title) != 0;
    int e = errno;
    if (f && fclose(f) != 0 && !rc) { rc = 1; e = errno; }
    if (!f) close(fd);
    if (!rc && rename(tmp, path) != 0) { rc = 1; e = errno; }
    if (rc) {
        fprintf(stderr, PROG ": %s: cannot write: %s\n", path, strerror(e));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *title = NULL;
    int only_args = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) { only_args = 1; continue; }
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                usage(stdout);
                return 0;
            }
            const char *val = NULL;
            int is_out = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0;
            int is_title = strcmp(a, "--title") == 0;
            if (strncmp(a, "--output=", 9) == 0) { is_out = 1; val = a + 9; }
            else if (strncmp(a, "--title=", 8) == 0) { is_title = 1; val = a + 8; }
            else if (strncmp(a, "-o", 2) == 0 && a[2]) { is_out = 1; val = a + 2; }
            if (!is_out && !is_title) {
                fprintf(stderr, PROG ": unknown option \"%s\"\n", a);
                usage(stderr);
                return 2;
            }
            if (!val) {
                if (i + 1 >= argc) {
                    fprintf(stderr, PROG ": option %s needs %s\n", a, is_out ? "a file name (REPORT.svg, or - for standard output)" : "a text");
                    return 2;
                }
                val = argv[++i];
            }
            if (is_out) {
                if (!*val) { fprintf(stderr, PROG ": option %s needs a file name, got an empty one\n", a); return 2; }
                out = val;
            } else {
                title = val;
            }
            continue;
        }
        if (in) {
            fprintf(stderr, PROG ": more than one metrics file (\"%s\", \"%s\"): give one\n", in, a);
            usage(stderr);
            return 2;
        }
        in = a;
    }
    if (!in) {
        fprintf(stderr, PROG ": missing the metrics file\n");
        usage(stderr);
        return 2;
    }
    if (!out) {
        fprintf(stderr, PROG ": no output file: pass -o REPORT.svg (or -o - for standard output)\n");
        usage(stderr);
        return 2;
    }
    metrics_t m;
    memset(&m, 0, sizeof m);
    int rc = read_metrics(in, &m);
    if (rc == 0) rc = output(out, &m, title);
    metrics_free(&m);
    return rc;
}
