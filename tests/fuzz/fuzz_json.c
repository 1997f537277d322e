/* fuzz_json.c - the JSON reader (apps/lib/json.c): the input is one JSON
 * text, parsed with json_parse_text (flags 0 and JSON_LINE) and json_parse.
 *
 * Checks beyond "no crash": the three calls agree on acceptance (and, for
 * a refusal, on the offset; json_parse's message is "JSON error at byte N:
 * ..."); a refusal's offset lies within the text and it has a message; an
 * accepted value has valid UTF-8 strings and keys, finite numbers,
 * booleans 0/1, json_get finds the last of duplicate names, and it
 * re-serialises to a text that parses to an equal value (numbers bit for
 * bit, strings byte for byte). */
#include "config.h"

#include <math.h>

#include "fuzz_common.h"
#include "json.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf_t;

static void put(sbuf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf_t *b, const char *s) { put(b, s, strlen(s)); }

/* Valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        int k;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= k; i++) {
            if ((s[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += k + 1;
    }
    return 1;
}

static void put_str(sbuf_t *b, const char *s)
{
    puts_(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p, esc[2] = 0;
            puts_(b, esc);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(b, esc);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    puts_(b, "\"");
}

/* Check one accepted value and write it out. */
static void walk(sbuf_t *b, const json_t *j, int depth)
{
    FUZZ_CHECK(j, "null node");
    FUZZ_CHECK(depth <= 64 || (j->type != JSON_ARR && j->type != JSON_OBJ),
               "%d levels of arrays and objects", depth);
    char num[40];
    switch (j->type) {
    case JSON_NULL: puts_(b, "null"); break;
    case JSON_BOOL:
        FUZZ_CHECK(j->num == 0 || j->num == 1, "boolean %g", j->num);
        puts_(b, j->num ? "true" : "false");
        break;
    case JSON_NUM:
        FUZZ_CHECK(isfinite(j->num), "number not finite");
        snprintf(num, sizeof num, "%.17g", j->num);
        puts_(b, num);
        break;
    case JSON_STR:
        FUZZ_CHECK(j->str && utf8_ok((const unsigned char *)j->str), "string not valid UTF-8");
        put_str(b, j->str);
        break;
    case JSON_ARR:
        FUZZ_CHECK(j->n == 0 || j->items, "array without items");
        puts_(b, "[");
        for (size_t i = 0; i < j->n; i++) {
            if (i) puts_(b, ",");
            walk(b, j->items[i], depth + 1);
        }
        puts_(b, "]");
        break;
    case JSON_OBJ:
        FUZZ_CHECK(j->n == 0 || (j->items && j->keys), "object without members");
        puts_(b, "{");
        for (size_t i = 0; i < j->n; i++) {
            FUZZ_CHECK(j->keys[i] && utf8_ok((const unsigned char *)j->keys[i]),
                       "member name not valid UTF-8");
            if (i) puts_(b, ",");
            put_str(b, j->keys[i]);
            puts_(b, ":");
            walk(b, j->items[i], depth + 1);
        }
        puts_(b, "}");
        /* json_get: the last of duplicate names (checked on the first 64) */
        for (size_t i = 0; i < j->n && i < 64; i++) {
            size_t last = i;
            for (size_t k = i + 1; k < j->n; k++)
                if (!strcmp(j->keys[k], j->keys[i])) last = k;
            FUZZ_CHECK(json_get(j, j->keys[i]) == j->items[last], "json_get(\"%s\")", j->keys[i]);
        }
        break;
    default: FUZZ_CHECK(0, "type %d", (int)j->type);
    }
    FUZZ_CHECK(json_kind(j) != NULL, "json_kind");
}

static int same(const json_t *a, const json_t *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NULL: return 1;
    case JSON_BOOL: return a->num == b->num;
    case JSON_NUM: return memcmp(&a->num, &b->num, sizeof a->num) == 0;
    case JSON_STR: return strcmp(a->str, b->str) == 0;
    default:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == JSON_OBJ && strcmp(a->keys[i], b->keys[i])) return 0;
            if (!same(a->items[i], b->items[i])) return 0;
        }
        return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that a read past the end is caught */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    json_error_t e0, e1;
    json_t *j = json_parse_text(text, size, 0, &e0);
    json_t *jl = json_parse_text(text, size, JSON_LINE, &e1);
    char err[300];
    json_t *jp = json_parse(text, size, err, sizeof err);
    FUZZ_NOTE("json_parse_text: %s at %zu: %s", j ? "ok" : "refused", e0.pos, e0.msg);
    FUZZ_CHECK(!j == !jl && !j == !jp, "acceptance differs: flags 0 %d, JSON_LINE %d, json_parse %d",
               !!j, !!jl, !!jp);
    if (!j) {
        FUZZ_CHECK(e0.pos <= size && e0.msg[0] && memchr(e0.msg, 0, sizeof e0.msg),
                   "refusal at %zu of %zu: \"%.200s\"", e0.pos, size, e0.msg);
        FUZZ_CHECK(e1.pos == e0.pos && e1.msg[0], "JSON_LINE refuses at %zu, flags 0 at %zu", e1.pos,
                   e0.pos);
        char want[40];
        snprintf(want, sizeof want, "JSON error at byte %zu: ", e0.pos);
        FUZZ_CHECK(!strncmp(err, want, strlen(want)), "json_parse says \"%s\"", err);
    } else {
        sbuf_t b = {0};
        walk(&b, j, 1);
        json_error_t e2;
        json_t *k = json_parse_text(b.p, b.n, 0, &e2);
        FUZZ_CHECK(k, "the re-serialised value does not parse: %s at %zu in %.300s", e2.msg, e2.pos,
                   b.p);
        FUZZ_CHECK(same(j, k), "the re-serialised value differs: %.300s", b.p);
        FUZZ_CHECK(same(j, jl) && same(j, jp), "the three parses differ");
        json_free(k);
        free(b.p);
    }
    json_free(j);
    json_free(jl);
    json_free(jp);
    free(text);
    return 0;
}
