/* json.c - see json.h.  A recursive-descent parser that keeps the position
 * of the first problem and says what it found there. */
#include "config.h"

#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len, pos;
    int depth;
    unsigned flags;
    json_error_t *e;
} parser_t;

static int fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->e->msg, sizeof p->e->msg, fmt, ap);
    va_end(ap);
    p->e->pos = p->pos;
    return -1;
}

static void ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
        p->pos++;
    }
}

static const char *end_name(const parser_t *p)
{
    return p->flags & JSON_LINE ? "the end of the line" : "the end of the input";
}

/* The character at the current position, for a message. */
static const char *here(const parser_t *p, char *buf, size_t len)
{
    if (p->pos >= p->len) return end_name(p);
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7F) snprintf(buf, len, "'%c'", c);
    else snprintf(buf, len, "byte 0x%02x", c);
    return buf;
}

static json_t *node(json_type_t t)
{
    json_t *j = calloc(1, sizeof *j);
    if (j) j->type = t;
    return j;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_u4(parser_t *p, unsigned *out)
{
    if (p->pos + 4 > p->len) return fail(p, "incomplete \\u escape in string");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + i]);
        if (h < 0) return fail(p, "invalid \\u escape in string (4 hex digits expected)");
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

/* One \uXXXX escape (p at the 'u'), a surrogate pair as one code point. */
static int unicode_escape(parser_t *p, unsigned *out)
{
    unsigned cp, lo;
    if (read_u4(p, &cp)) return -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "unpaired low surrogate \\u%04x in string", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail(p, "unpaired high surrogate \\u%04x in string", cp);
        p->pos += 2;
        if (read_u4(p, &lo)) return -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, "high surrogate \\u%04x not followed by a low surrogate", cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) return fail(p, "\\u0000 (NUL) is not allowed in strings here");
    *out = cp;
    return 0;
}

static int parse_string(parser_t *p, char **out)
{
    /* p->s[p->pos] == '"'.  The decoded text is never longer than the
     * source up to the closing quote. */
    size_t start = p->pos++, end = p->pos;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    char *o = malloc((end < p->len ? end : p->len) - start + 1);
    if (!o) return fail(p, "out of memory");
    size_t w = 0;
    for (;;) {
        if (p->pos >= p->len) {
            free(o);
            p->pos = start;
            return fail(p, p->flags & JSON_LINE ? "unterminated string (no closing '\"' on this line)"
                                                : "unterminated string (no closing '\"')");
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) {
            free(o);
            return fail(p, "control character 0x%02x in string (write it as an escape, e.g. \\n)", c);
        }
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len) {
                free(o);
                p->pos = start;
                return fail(p, p->flags & JSON_LINE ? "unterminated string (no closing '\"' on this line)"
                                                    : "unterminated string (no closing '\"')");
            }
            char e = p->s[p->pos++];
            unsigned cp = 0;
            switch (e) {
            case '"': o[w++] = '"'; break;
            case '\\': o[w++] = '\\'; break;
            case '/': o[w++] = '/'; break;
            case 'b': o[w++] = '\b'; break;
            case 'f': o[w++] = '\f'; break;
            case 'n': o[w++] = '\n'; break;
            case 'r': o[w++] = '\r'; break;
            case 't': o[w++] = '\t'; break;
            case 'u':
                if (unicode_escape(p, &cp)) { free(o); return -1; }
                w += put_utf8(o + w, cp);
                break;
            default:
                p->pos--;
                free(o);
                if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7F)
                    return fail(p, "invalid escape '\\%c' in string", e);
                return fail(p, "invalid escape in string");
            }
            continue;
        }
        size_t k = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (k == 0) {
            free(o);
            return fail(p, "invalid UTF-8 (byte 0x%02x) in string", c);
        }
        memcpy(o + w, p->s + p->pos, k);
        w += k;
        p->pos += k;
    }
    o[w] = '\0';
    *out = o;
    return 0;
}

static int parse_number(parser_t *p, double *out)
{
    size_t i = p->pos, n = p->len;
    const char *s = p->s;
    if (i < n && s[i] == '-') i++;
    if (i >= n || !(s[i] >= '0' && s[i] <= '9')) return fail(p, "invalid number (a digit must follow '-')");
    if (s[i] == '0') i++;
    else while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !(s[i] >= '0' && s[i] <= '9')) {
            p->pos = i;
            return fail(p, "invalid number (a digit must follow '.')");
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !(s[i] >= '0' && s[i] <= '9')) {
            p->pos = i;
            return fail(p, "invalid number (digits must follow the exponent)");
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    char buf[512];
    if (i - p->pos >= sizeof buf) return fail(p, "number too long");
    memcpy(buf, s + p->pos, i - p->pos);
    buf[i - p->pos] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v)) return fail(p, "number %s is out of range", buf);
    p->pos = i;
    *out = v;
    return 0;
}

static int parse_value(parser_t *p, json_t **out);

/* Append v (and for an object its name k) to container j; on failure
 * neither is owned by j. */
static int push(parser_t *p, json_t *j, char *k, json_t *v)
{
    json_t **it = realloc(j->items, (j->n + 1) * sizeof *it);
    if (!it) return fail(p, "out of memory");
    j->items = it;
    if (j->type == JSON_OBJ) {
        char **nk = realloc(j->keys, (j->n + 1) * sizeof *nk);
        if (!nk) return fail(p, "out of memory");
        j->keys = nk;
        nk[j->n] = k;
    }
    it[j->n++] = v;
    return 0;
}

static int parse_array(parser_t *p, json_t *a)
{
    char hb[16];
    p->pos++;   /* '[' */
    ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') { p->pos++; return 0; }
    for (;;) {
        json_t *v = NULL;
        if (parse_value(p, &v)) return -1;
        if (push(p, a, NULL, v)) { json_free(v); return -1; }
        ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == ']') { p->pos++; return 0; }
        return fail(p, "expected ',' or ']' in array, found %s", here(p, hb, sizeof hb));
    }
}

static int parse_object(parser_t *p, json_t *o)
{
    char hb[16];
    p->pos++;   /* '{' */
    ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') { p->pos++; return 0; }
    for (;;) {
        ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return fail(p, "expected a member name in double quotes, found %s", here(p, hb, sizeof hb));
        char *k = NULL;
        json_t *v = NULL;
        if (parse_string(p, &k)) return -1;
        ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            fail(p, "expected ':' after member name \"%.40s\", found %s", k, here(p, hb, sizeof hb));
            free(k);
            return -1;
        }
        p->pos++;
        if (parse_value(p, &v) || push(p, o, k, v)) {
            free(k);
            json_free(v);
            return -1;
        }
        ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == '}') { p->pos++; return 0; }
        return fail(p, "expected ',' or '}' in object, found %s", here(p, hb, sizeof hb));
    }
}

static int parse_value(parser_t *p, json_t **out)
{
    char hb[16];
    ws(p);
    if (p->pos >= p->len) return fail(p, "expected a value, found %s", end_name(p));
    char c = p->s[p->pos];
    json_t *j = NULL;
    int rc;
    if (c == '{' || c == '[') {
        if (++p->depth > JSON_MAX_DEPTH) return fail(p, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        if (!(j = node(c == '{' ? JSON_OBJ : JSON_ARR))) return fail(p, "out of memory");
        rc = c == '{' ? parse_object(p, j) : parse_array(p, j);
        p->depth--;
    } else if (c == '"') {
        if (!(j = node(JSON_STR))) return fail(p, "out of memory");
        rc = parse_string(p, &j->str);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (!(j = node(JSON_NUM))) return fail(p, "out of memory");
        rc = parse_number(p, &j->num);
    } else {
        static const struct { const char *w; json_type_t t; double v; } lit[] = {
            {"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0}};
        for (size_t i = 0; i < sizeof lit / sizeof lit[0]; i++) {
            size_t l = strlen(lit[i].w);
            if (p->len - p->pos >= l && memcmp(p->s + p->pos, lit[i].w, l) == 0) {
                if (!(j = node(lit[i].t))) return fail(p, "out of memory");
                j->num = lit[i].v;
                p->pos += l;
                *out = j;
                return 0;
            }
        }
        if (c == 'N' || c == 'I' || c == 'n' || c == 'i')
            return fail(p, "expected a value, found %s (NaN and Infinity are not JSON: write null)",
                        here(p, hb, sizeof hb));
        return fail(p, "expected a value, found %s", here(p, hb, sizeof hb));
    }
    if (rc) {
        json_free(j);
        return -1;
    }
    *out = j;
    return 0;
}

json_t *json_parse_text(const char *text, size_t len, unsigned flags, json_error_t *e)
{
    json_error_t scratch;
    parser_t p = {text, len, 0, 0, flags, e ? e : &scratch};
    p.e->pos = 0;
    p.e->msg[0] = '\0';
    json_t *j = NULL;
    if (parse_value(&p, &j)) return NULL;
    ws(&p);
    if (p.pos < p.len) {
        char hb[16];
        fail(&p, "unexpected %s after the end of the JSON value%s", here(&p, hb, sizeof hb),
             flags & JSON_LINE ? " (one object per line)" : "");
        json_free(j);
        return NULL;
    }
    return j;
}

json_t *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t e;
    json_t *j = json_parse_text(text, len, 0, &e);
    if (!j && err && errlen) snprintf(err, errlen, "JSON error at byte %zu: %s", e.pos, e.msg);
    else if (err && errlen) err[0] = '\0';
    return j;
}

void json_free(json_t *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n; i++) {
        json_free(j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

const json_t *json_get(const json_t *j, const char *key)
{
    if (!j || j->type != JSON_OBJ) return NULL;
    for (size_t i = j->n; i-- > 0;)
        if (strcmp(j->keys[i], key) == 0) return j->items[i];
    return NULL;
}

const char *json_kind(const json_t *j)
{
    switch (j ? j->type : JSON_NULL) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "a boolean";
    case JSON_NUM: return "a number";
    case JSON_STR: return "a string";
    case JSON_ARR: return "an array";
    default: return "an object";
    }
}

int json_size(const json_t *j, size_t max, size_t *out, char *why, size_t whylen)
{
    if (max > JSON_SIZE_MAX) max = JSON_SIZE_MAX;
    if (!j || j->type != JSON_NUM) {
        snprintf(why, whylen, "must be a non-negative integer, got %s", json_kind(j));
        return -1;
    }
    double v = j->num;
    char num[40];
    /* integers as integers (4611686018427387904, not 4.6e+18) */
    snprintf(num, sizeof num, v == floor(v) && fabs(v) < 1e20 ? "%.0f" : "%.17g", v);
    if (v < 0 || v != floor(v)) {
        snprintf(why, whylen, "must be a non-negative integer, got %s", num);
        return -1;
    }
    if (v > (double)max) {
        snprintf(why, whylen, "%s is out of range (at most %zu%s)", num, max,
                 max == JSON_SIZE_MAX ? " = 2^53" : "");
        return -1;
    }
    *out = (size_t)v;
    return 0;
}
