/* json.c - see json.h. */
#include "config.h"

#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    int depth;
} parser_t;

static json_t *fail(parser_t *p, const char *what)
{
    if (p->err && !p->err[0]) snprintf(p->err, p->errlen, "JSON error at byte %zu: %s", p->pos, what);
    return NULL;
}

static void ws(parser_t *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static json_t *node(json_type_t t)
{
    json_t *j = calloc(1, sizeof *j);
    if (j) j->type = t;
    return j;
}

static char *parse_string(parser_t *p)
{
    if (p->pos >= p->len || p->s[p->pos] != '"') {
        fail(p, "expected a string");
        return NULL;
    }
    p->pos++;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        char c = p->s[p->pos++];
        if ((unsigned char)c < 0x20) {
            free(out);
            fail(p, "control character in a string");
            return NULL;
        }
        if (c == '\\') {
            if (p->pos >= p->len) break;
            char e = p->s[p->pos++];
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char h = p->pos < p->len ? p->s[p->pos++] : 0;
                    v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                            : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
                }
                if (v > 0x7f) {
                    free(out);
                    fail(p, "non-ASCII \\u escape (not supported here)");
                    return NULL;
                }
                c = (char)v;
                break;
            }
            default:
                free(out);
                fail(p, "bad escape in a string");
                return NULL;
            }
        }
        if (n + 2 > cap) {
            char *t = realloc(out, cap *= 2);
            if (!t) {
                free(out);
                return NULL;
            }
            out = t;
        }
        out[n++] = c;
    }
    if (p->pos >= p->len) {
        free(out);
        fail(p, "unterminated string");
        return NULL;
    }
    p->pos++;
    out[n] = 0;
    return out;
}

static json_t *parse_value(parser_t *p);

static int push(json_t *j, char *key, json_t *v)
{
    json_t **it = realloc(j->items, (j->n + 1) * sizeof *it);
    if (!it) return -1;
    j->items = it;
    if (j->type == JSON_OBJ) {
        char **k = realloc(j->keys, (j->n + 1) * sizeof *k);
        if (!k) return -1;
        j->keys = k;
        k[j->n] = key;
    }
    it[j->n++] = v;
    return 0;
}

static json_t *parse_container(parser_t *p, int obj)
{
    if (++p->depth > 64) return fail(p, "nesting deeper than 64");
    json_t *j = node(obj ? JSON_OBJ : JSON_ARR);
    if (!j) return NULL;
    p->pos++;
    ws(p);
    if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) {
        p->pos++;
        p->depth--;
        return j;
    }
    for (;;) {
        char *key = NULL;
        ws(p);
        if (obj) {
            key = parse_string(p);
            if (!key) break;
            ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(key);
                fail(p, "expected ':' after an object key");
                break;
            }
            p->pos++;
        }
        json_t *v = parse_value(p);
        if (!v || push(j, key, v)) {
            free(key);
            json_free(v);
            break;
        }
        ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) {
            p->pos++;
            p->depth--;
            return j;
        }
        fail(p, obj ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
        break;
    }
    json_free(j);
    return NULL;
}

static json_t *parse_value(parser_t *p)
{
    ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') return parse_container(p, c == '{');
    if (c == '"') {
        char *s = parse_string(p);
        if (!s) return NULL;
        json_t *j = node(JSON_STR);
        if (!j) {
            free(s);
            return NULL;
        }
        j->str = s;
        return j;
    }
    static const char *lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(lits[i]);
        if (p->len - p->pos >= l && !memcmp(p->s + p->pos, lits[i], l)) {
            p->pos += l;
            json_t *j = node(i == 2 ? JSON_NULL : JSON_BOOL);
            if (j) j->num = i == 0;
            return j;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t n = 0;
        while (p->pos < p->len && n < sizeof buf - 1 && strchr("+-0123456789.eE", p->s[p->pos])) buf[n++] = p->s[p->pos++];
        buf[n] = 0;
        char *end;
        double v = strtod(buf, &end);
        if (*end || !n) return fail(p, "malformed number");
        json_t *j = node(JSON_NUM);
        if (j) j->num = v;
        return j;
    }
    return fail(p, "expected a value");
}

json_t *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    parser_t p = {text, len, 0, err, errlen, 0};
    if (err && errlen) err[0] = 0;
    json_t *j = parse_value(&p);
    if (!j) return NULL;
    ws(&p);
    if (p.pos != len) {
        json_free(j);
        return fail(&p, "trailing characters after the value");
    }
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
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->keys[i], key) == 0) return j->items[i];
    return NULL;
}
