/* json.h - the apps' JSON reader (RFC 8259) for their own files: model
 * configs, safetensors headers, spin-report's metrics lines.  Objects,
 * arrays, strings (every escape; \uXXXX and surrogate pairs are decoded to
 * UTF-8, and the text itself must be valid UTF-8), numbers (the JSON
 * grammar, finite doubles only), true, false, null; at most 64 levels of
 * nesting.  Strings hold no NUL (\u0000 is refused).  Errors name the byte
 * offset and the problem, e.g. "expected ',' or '}' in object, found 'x'". */
#ifndef SPIN_APPS_JSON_H
#define SPIN_APPS_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } json_type_t;

typedef struct json {
    json_type_t type;
    double num;            /* JSON_NUM, JSON_BOOL (0/1) */
    char *str;             /* JSON_STR: valid UTF-8, no NUL */
    size_t n;              /* JSON_ARR, JSON_OBJ: children */
    char **keys;           /* JSON_OBJ: member names, in file order */
    struct json **items;   /* JSON_ARR, JSON_OBJ */
} json_t;

/* Where and why a parse failed. */
typedef struct json_error {
    size_t pos;            /* byte offset of the problem in the text */
    char msg[200];         /* the problem, without the offset */
} json_error_t;

/* json_parse_text flags.  JSON_LINE: the text is one line of a JSON-lines
 * file; messages say "the end of the line", and text after the value is
 * "unexpected ... (one object per line)". */
#define JSON_LINE 1u

/* Parse the one value that len bytes of text hold (whitespace around it
 * allowed); NULL on error with *e filled (out of memory included). */
json_t *json_parse_text(const char *text, size_t len, unsigned flags, json_error_t *e);
/* The same; the error as one text, "JSON error at byte N: problem". */
json_t *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(json_t *j);
/* Member of an object; of duplicate names the last one (as Python's json
 * reads them).  NULL if absent or j is not an object. */
const json_t *json_get(const json_t *j, const char *key);
/* "null", "a boolean", "a number", "a string", "an array", "an object":
 * for messages ("must be a number, got a string"). */
const char *json_kind(const json_t *j);

/* The largest size json_size accepts: 2^53, below which every integer is
 * exact in the double a JSON number is read as. */
#define JSON_SIZE_MAX ((size_t)1 << 53)
/* A JSON number used as a size (a count, a dimension, a byte offset): it
 * must be a non-negative integer of at most max (max is clamped to
 * JSON_SIZE_MAX).  0 with *out set, or -1 with the problem in why, e.g.
 * "must be a non-negative integer, got -3" or "got a string", for the
 * caller to prefix with the file and the field. */
int json_size(const json_t *j, size_t max, size_t *out, char *why, size_t whylen);

#endif
