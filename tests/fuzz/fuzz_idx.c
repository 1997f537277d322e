/* fuzz_idx.c - the IDX reader (apps/lib/idx.c): the input is one IDX file,
 * plain or gzipped, read with idx_read and idx_read_int.
 *
 * Checks beyond "no crash": an accepted array has 1..IDX_MAX_DIMS
 * dimensions, count = the product of its dimensions, non-zero sizes whose
 * product is within the reader's cap of 2^40 bytes, a type the call
 * accepts; a plain (not gzipped) file is exactly 4 + 4 * ndims + count *
 * element-size bytes long; every element reads (idx_value) and matches the
 * file's bytes; idx_read and idx_read_int agree on ubyte files; a refusal
 * has an error code and a message naming the file. */
#include "config.h"

#include "fuzz_common.h"
#include "idx.h"

static void check_ok(const idx_array_t *a, int allow_int, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(a->ndims >= 1 && a->ndims <= IDX_MAX_DIMS, "ndims %d", a->ndims);
    FUZZ_CHECK(a->type == 0x08 || (allow_int && a->type == 0x0C), "type 0x%02x", a->type);
    unsigned __int128 cnt = 1;
    for (int i = 0; i < a->ndims; i++) cnt *= a->dims[i];
    FUZZ_CHECK(cnt == a->count, "count %zu is not the product of the dimensions", a->count);
    /* the non-zero sizes too stay within the reader's cap of 2^40 bytes, so
     * that a caller multiplying the sizes of an empty array cannot overflow */
    unsigned __int128 nz = a->type == 0x0C ? 4 : 1;
    for (int i = 0; i < a->ndims; i++)
        if (a->dims[i] && nz <= ((unsigned __int128)1 << 40)) nz *= a->dims[i];
    FUZZ_CHECK(nz <= ((unsigned __int128)1 << 40),
               "an array of %d dimensions accepted whose non-zero sizes multiply to more than 2^40 bytes",
               a->ndims);
    FUZZ_CHECK(a->count == 0 || a->data, "no data for %zu elements", a->count);
    size_t es = a->type == 0x0C ? 4 : 1;
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gz) {
        size_t hdr = 4 + 4 * (size_t)a->ndims;
        FUZZ_CHECK((unsigned __int128)size == hdr + (unsigned __int128)a->count * es,
                   "a plain file of %zu bytes accepted as %d dims, %zu elements of %zu bytes", size,
                   a->ndims, a->count, es);
        FUZZ_CHECK(data[2] == a->type && data[3] == a->ndims, "header bytes disagree");
        for (int i = 0; i < a->ndims; i++) {
            const uint8_t *p = data + 4 + 4 * i;
            uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            FUZZ_CHECK(d == a->dims[i], "dimension %d: %u, the file says %u", i, a->dims[i], d);
        }
        for (size_t i = 0; i < a->count; i++) {
            const uint8_t *p = data + hdr + es * i;
            int64_t want = es == 1 ? p[0]
                                   : (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                               (uint32_t)p[2] << 8 | p[3]);
            FUZZ_CHECK(idx_value(a, i) == want, "element %zu", i);
        }
    } else {
        volatile int64_t sum = 0;
        for (size_t i = 0; i < a->count; i++) sum += idx_value(a, i);
        (void)sum;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_as_file(data, size);
    idx_array_t a, b;
    idx_error_t e1, e2;
    int r1 = idx_read(path, &a, &e1);
    int r2 = idx_read_int(path, &b, &e2);
    FUZZ_NOTE("idx_read %d (%s), idx_read_int %d (%s)", r1, e1.msg, r2, e2.msg);
    FUZZ_CHECK(r1 == e1.code && r2 == e2.code, "return code and error code differ");
    if (r1) {
        FUZZ_CHECK(r1 < 0 && e1.msg[0] && strstr(e1.msg, path), "idx_read: code %d, message \"%s\"",
                   r1, e1.msg);
        FUZZ_CHECK(a.data == NULL && a.count == 0, "idx_read failed but left data");
    } else {
        check_ok(&a, 0, data, size);
        FUZZ_CHECK(!e1.msg[0], "success with a message");
        /* ubyte files read the same both ways */
        FUZZ_CHECK(r2 == 0 && b.type == 0x08 && b.count == a.count && b.ndims == a.ndims &&
                       (a.count == 0 || memcmp(a.data, b.data, a.count) == 0),
                   "idx_read_int disagrees with idx_read (rc %d: %s)", r2, e2.msg);
    }
    if (r2) {
        FUZZ_CHECK(r2 < 0 && e2.msg[0] && strstr(e2.msg, path),
                   "idx_read_int: code %d, message \"%s\"", r2, e2.msg);
        FUZZ_CHECK(b.data == NULL && b.count == 0, "idx_read_int failed but left data");
    } else {
        check_ok(&b, 1, data, size);
    }
    FUZZ_CHECK(strcmp(idx_strerror(r1), "unknown IDX error code") != 0, "code %d has no name", r1);
    FUZZ_CHECK(strcmp(idx_strerror(r2), "unknown IDX error code") != 0, "code %d has no name", r2);
    idx_array_free(&a);
    idx_array_free(&b);
    return 0;
}
