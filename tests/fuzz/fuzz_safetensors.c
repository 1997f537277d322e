/* fuzz_safetensors.c - the safetensors reader (apps/lib/safetensors.c):
 * the input is one safetensors file, read with st_read.
 *
 * Checks beyond "no crash": in an accepted file every tensor's shape and
 * data offsets are the header's JSON numbers, each a non-negative integer
 * below 2^64 (no other JSON value read as a size); every tensor has a known
 * dtype, at most ST_MAX_DIMS dimensions, and data offsets that lie inside
 * the data section and hold exactly prod(shape) * dtype-size bytes
 * (computed without overflow); data_len = file size - 8 - header length;
 * st_find finds every tensor by name; st_get reads every tensor of up to
 * 2^20 elements with its own shape (and refuses another shape); a refusal
 * has a message. */
#include "config.h"

#include <math.h>

#include "fuzz_common.h"
#include "json.h"
#include "safetensors.h"

/* A JSON value used as a size: a number, integral, in [0, 2^64), and equal to v. */
static int is_size(const json_t *j, size_t v)
{
    return j && j->type == JSON_NUM && j->num >= 0 && j->num < 18446744073709551616.0 &&
           j->num == floor(j->num) && (double)v == j->num;
}

static size_t dsize(const char *d)
{
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    if (!strcmp(d, "F32") || !strcmp(d, "I32")) return 4;
    if (!strcmp(d, "F16") || !strcmp(d, "BF16")) return 2;
    if (!strcmp(d, "U8")) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_as_file(data, size);
    st_file_t f;
    char msg[512];
    msg[0] = '\0';
    int rc = st_read(path, &f, msg, sizeof msg);
    FUZZ_NOTE("st_read: %d, %zu tensors, %zu data bytes: %s", rc, f.n, f.data_len, msg);
    if (rc != 0) {
        FUZZ_CHECK(msg[0], "refused without a message");
        FUZZ_CHECK(f.n == 0 && f.e == NULL && f.data == NULL, "refused but left entries");
        return 0;
    }
    FUZZ_CHECK(size >= 8, "a %zu-byte file accepted", size);
    uint64_t hl = fuzz_le(data, 8);
    FUZZ_CHECK(hl <= size - 8 && f.data_len == size - 8 - hl, "data_len %zu, header %llu, file %zu",
               f.data_len, (unsigned long long)hl, size);
    FUZZ_CHECK(f.data_len == 0 || memcmp(f.data, data + 8 + hl, f.data_len) == 0,
               "data section differs from the file");
    FUZZ_CHECK(f.path && !strcmp(f.path, path), "path");
    /* the header itself, to compare the sizes with the JSON numbers */
    char jerr[256];
    json_t *hj = json_parse((const char *)data + 8, (size_t)hl, jerr, sizeof jerr);
    FUZZ_CHECK(hj && hj->type == JSON_OBJ, "accepted header does not parse: %s", jerr);
    size_t key = 0;
    for (size_t i = 0; i < f.n; i++) {
        const st_entry_t *e = &f.e[i];
        FUZZ_CHECK(e->name, "tensor %zu has no name", i);
        while (key < hj->n && !strcmp(hj->keys[key], "__metadata__")) key++;
        FUZZ_CHECK(key < hj->n && !strcmp(hj->keys[key], e->name), "tensor %zu is not the header's", i);
        const json_t *t = hj->items[key++], *sh = json_get(t, "shape"), *off = json_get(t, "data_offsets");
        FUZZ_CHECK(sh && sh->type == JSON_ARR && sh->n == (size_t)e->nd && off && off->type == JSON_ARR &&
                       off->n == 2,
                   "tensor \"%s\": shape or data_offsets not what the header says", e->name);
        for (int d = 0; d < e->nd; d++)
            FUZZ_CHECK(is_size(sh->items[d], e->shape[d]),
                       "tensor \"%s\": shape[%d] read as %zu from a JSON %s that is not that size",
                       e->name, d, e->shape[d], json_kind(sh->items[d]));
        FUZZ_CHECK(is_size(off->items[0], e->begin) && is_size(off->items[1], e->end),
                   "tensor \"%s\": data offsets read as [%zu, %zu) from JSON values that are not "
                   "those sizes", e->name, e->begin, e->end);
        size_t ds = dsize(e->dtype);
        FUZZ_CHECK(ds, "tensor \"%s\": dtype %s accepted", e->name, e->dtype);
        FUZZ_CHECK(e->nd >= 0 && e->nd <= ST_MAX_DIMS, "tensor \"%s\": %d dims", e->name, e->nd);
        unsigned __int128 cnt = 1;
        int big = 0;
        for (int d = 0; d < e->nd; d++) {
            cnt *= e->shape[d];
            if (cnt > ((unsigned __int128)1 << 64)) big = 1, cnt = (unsigned __int128)1 << 64;
        }
        unsigned __int128 bytes = cnt * ds;
        FUZZ_CHECK(e->begin <= e->end && e->end <= f.data_len,
                   "tensor \"%s\": offsets [%zu, %zu) outside the %zu-byte data section", e->name,
                   e->begin, e->end, f.data_len);
        FUZZ_CHECK(!big && bytes == (unsigned __int128)(e->end - e->begin),
                   "tensor \"%s\": shape of %s%llu elements x %zu bytes accepted for %zu data bytes "
                   "(size overflow)", e->name, big ? "more than 2^64 " : "",
                   (unsigned long long)cnt, ds, e->end - e->begin);
        const st_entry_t *g = st_find(&f, e->name);
        FUZZ_CHECK(g && !strcmp(g->name, e->name), "st_find(\"%s\")", e->name);
        if (g != e || cnt > ((unsigned __int128)1 << 20)) continue;
        double *out = malloc((size_t)cnt * sizeof *out + 1);
        if (!out) continue;
        if (st_get(&f, e->name, e->nd, e->shape, out, msg, sizeof msg) == 0) {
            for (size_t k = 0; k < (size_t)cnt; k++)
                FUZZ_CHECK(isfinite(out[k]), "tensor \"%s\": value %zu not finite", e->name, k);
        } else {
            FUZZ_CHECK(msg[0] && strstr(msg, "non-finite"), "st_get(\"%s\") with its own shape: %s",
                       e->name, msg);
        }
        if (e->nd < ST_MAX_DIMS) { /* one more dimension: refused */
            size_t sh[ST_MAX_DIMS + 1];
            memcpy(sh, e->shape, sizeof e->shape);
            sh[e->nd] = 1;
            FUZZ_CHECK(st_get(&f, e->name, e->nd + 1, sh, out, msg, sizeof msg) != 0,
                       "st_get(\"%s\") with a wrong shape accepted", e->name);
        }
        free(out);
    }
    FUZZ_CHECK(st_find(&f, "\x01no such tensor") == NULL, "st_find of a missing name");
    json_free(hj);
    st_free(&f);
    return 0;
}
