/* json.h - a small JSON reader for the apps' own files (model configs,
 * safetensors headers): objects, arrays, strings (with \" \\ \/ \n \t
 * \uXXXX escapes for ASCII), numbers, true, false, null.  Errors name the
 * byte offset and what was expected. */
#ifndef SPIN_APPS_JSON_H
#define SPIN_APPS_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } json_type_t;

typedef struct json {
    json_type_t type;
    double num;            /* JSON_NUM, JSON_BOOL (0/1) */
    char *str;             /* JSON_STR */
    size_t n;              /* JSON_ARR, JSON_OBJ: children */
    char **keys;           /* JSON_OBJ */
    struct json **items;   /* JSON_ARR, JSON_OBJ */
} json_t;

/* Parse len bytes; NULL on error with err filled. */
json_t *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(json_t *j);
/* Member of an object (NULL if absent or j is not an object). */
const json_t *json_get(const json_t *j, const char *key);

#endif
