/* test_idx.c - apps/lib/idx.c: valid IDX files, plain and gzipped; every kind of
 * broken file with its error code and message (sizes whose product
 * overflows included); the dataset checks (counts,
 * label range, dimensions, missing files); the conversions to double; and,
 * when dataset-fashion-mnist is installed, the real training and test sets. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"

/* Standalone (no libspin, no testutil): this tests a library of the apps. */
static uint64_t rand64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static char *g_dir;   /* private scratch directory, removed at the end */

/* A path under the scratch directory (static buffers, rotated). */
static const char *tpath(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", g_dir, name);
    return p;
}

static void write_bytes(const char *path, int gz, const void *b, size_t n)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        if (n) ck_assert_int_eq(gzwrite(f, b, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        if (n) ck_assert_uint_eq(fwrite(b, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
    }
}

/* An IDX file: header (type, dims) then `len` data bytes then `extra` more. */
static void write_idx(const char *path, int gz, int type, int nd, const uint32_t *dims,
                      const uint8_t *data, size_t len, size_t extra)
{
    size_t n = 4 + 4 * (size_t)nd + len + extra;
    uint8_t *b = calloc(n, 1);
    ck_assert_ptr_nonnull(b);
    b[2] = (uint8_t)type;
    b[3] = (uint8_t)nd;
    for (int i = 0; i < nd; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (len) memcpy(b + 4 + 4 * nd, data, len);
    for (size_t i = 0; i < extra; i++) b[4 + 4 * nd + len + i] = 0xAB;
    write_bytes(path, gz, b, n);
    free(b);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t *b = malloc(1 << 20);
    ck_assert_ptr_nonnull(b);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

/* Assert rc == code, err carries the same code, and the message mentions
 * every given fragment (NULL-terminated list). */
static void expect_err(int rc, const idx_error_t *e, int code, ...)
{
    ck_assert_msg(rc == code, "rc %d (%s), expected %d (%s); message: %s", rc, idx_strerror(rc), code,
                  idx_strerror(code), e->msg);
    ck_assert_int_eq(e->code, code);
    va_list ap;
    va_start(ap, code);
    const char *frag;
    while ((frag = va_arg(ap, const char *)) != NULL)
        ck_assert_msg(strstr(e->msg, frag) != NULL, "message \"%s\" lacks \"%s\"", e->msg, frag);
    va_end(ap);
}

static void expect_read_err(const char *path, int code, ...)
{
    idx_array_t a;
    idx_error_t e;
    memset(&a, 0x5A, sizeof a);
    int rc = idx_read(path, &a, &e);
    ck_assert_msg(rc == code, "%s: rc %d (%s), expected %d (%s); message: %s", path, rc, idx_strerror(rc),
                  code, idx_strerror(code), e.msg);
    ck_assert_int_eq(e.code, code);
    ck_assert_ptr_null(a.data);           /* nothing to free on error */
    ck_assert_uint_eq(a.count, 0);
    ck_assert_msg(strstr(e.msg, path) != NULL, "message \"%s\" does not name the file", e.msg);
    va_list ap;
    va_start(ap, code);
    const char *frag;
    while ((frag = va_arg(ap, const char *)) != NULL)
        ck_assert_msg(strstr(e.msg, frag) != NULL, "message \"%s\" lacks \"%s\"", e.msg, frag);
    va_end(ap);
    idx_array_free(&a);
}

static const uint8_t IMG12[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 255};
static const uint32_t DIMS322[3] = {3, 2, 2};

/* ---- idx_read ------------------------------------------------------------ */

START_TEST(read_valid_plain_and_gz)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tpath(gz ? "valid.idx.gz" : "valid.idx");
        write_idx(p, gz, 0x08, 3, DIMS322, IMG12, 12, 0);
        idx_array_t a;
        idx_error_t e;
        ck_assert_int_eq(idx_read(p, &a, &e), IDX_OK);
        ck_assert_int_eq(e.code, IDX_OK);
        ck_assert_str_eq(e.msg, "");
        ck_assert_int_eq(a.ndims, 3);
        ck_assert_uint_eq(a.dims[0], 3);
        ck_assert_uint_eq(a.dims[1], 2);
        ck_assert_uint_eq(a.dims[2], 2);
        ck_assert_uint_eq(a.count, 12);
        ck_assert_mem_eq(a.data, IMG12, 12);
        idx_array_free(&a);
        ck_assert_ptr_null(a.data);
        idx_array_free(&a);                  /* twice is harmless */
    }
    /* 1-dimensional (labels), and a dimension of 0 (no elements). */
    uint32_t d1 = 5, d0[2] = {0, 7};
    write_idx(tpath("l.gz"), 1, 0x08, 1, &d1, IMG12, 5, 0);
    write_idx(tpath("empty.idx"), 0, 0x08, 2, d0, NULL, 0, 0);
    idx_array_t a;
    idx_error_t e;
    ck_assert_int_eq(idx_read(tpath("l.gz"), &a, &e), IDX_OK);
    ck_assert_int_eq(a.ndims, 1);
    ck_assert_uint_eq(a.count, 5);
    ck_assert_mem_eq(a.data, IMG12, 5);
    idx_array_free(&a);
    ck_assert_int_eq(idx_read(tpath("empty.idx"), &a, &e), IDX_OK);
    ck_assert_uint_eq(a.count, 0);
    idx_array_free(&a);
    /* NULL error pointer is allowed. */
    ck_assert_int_eq(idx_read(tpath("l.gz"), &a, NULL), IDX_OK);
    idx_array_free(&a);
    ck_assert_int_eq(idx_read(tpath("missing"), &a, NULL), IDX_ERR_NOENT);
}
END_TEST

START_TEST(read_missing_and_not_a_file)
{
    expect_read_err(tpath("nope.gz"), IDX_ERR_NOENT, "no such file", NULL);
    expect_read_err(tpath("nodir/nope.gz"), IDX_ERR_NOENT, "no such file", NULL);
    ck_assert_int_eq(mkdir(tpath("adir"), 0700), 0);
    expect_read_err(tpath("adir"), IDX_ERR_NOENT, "is a directory", NULL);
    if (geteuid() != 0) {                 /* root reads anything */
        write_idx(tpath("noperm"), 0, 0x08, 3, DIMS322, IMG12, 12, 0);
        chmod(tpath("noperm"), 0);
        expect_read_err(tpath("noperm"), IDX_ERR_NOENT, "cannot open", "Permission denied", NULL);
    }
    idx_array_t a;
    idx_error_t e;
    ck_assert_int_eq(idx_read(NULL, &a, &e), IDX_ERR_ARG);
    ck_assert_int_eq(idx_read("", &a, &e), IDX_ERR_ARG);
    ck_assert_int_eq(idx_read(tpath("x"), NULL, &e), IDX_ERR_ARG);
}
END_TEST

START_TEST(read_truncated)
{
    for (int gz = 0; gz < 2; gz++) {
        char name[64];
        snprintf(name, sizeof name, "empty%d", gz);
        write_bytes(tpath(name), gz, "", 0);
        expect_read_err(tpath(name), IDX_ERR_TRUNCATED, "file is empty", NULL);
        snprintf(name, sizeof name, "magic2_%d", gz);
        write_bytes(tpath(name), gz, "\0\0", 2);
        expect_read_err(tpath(name), IDX_ERR_TRUNCATED, "ends after 2 bytes, inside the 4-byte IDX magic",
                        "fetch it again", NULL);
        /* Header declares 3 dimensions (12 bytes) but has 6. */
        snprintf(name, sizeof name, "dims_%d", gz);
        write_bytes(tpath(name), gz, "\0\0\x08\x03\0\0\0\x03\0\0", 10);
        expect_read_err(tpath(name), IDX_ERR_TRUNCATED, "ends after 10 bytes, inside the IDX header",
                        "16 bytes for 3 dimensions", NULL);
        /* Data cut short: 5 of 12. */
        snprintf(name, sizeof name, "data_%d", gz);
        write_idx(tpath(name), gz, 0x08, 3, DIMS322, IMG12, 5, 0);
        expect_read_err(tpath(name), IDX_ERR_TRUNCATED,
                        "truncated: 5 of the 12 data bytes the header declares (3x2x2) are present",
                        "fetch it again", NULL);
    }
    /* A header declaring a huge array over a tiny file: an error, not a
     * terabyte allocation. */
    uint32_t big[3] = {1000000, 1000, 1000};
    write_idx(tpath("bighdr"), 0, 0x08, 3, big, IMG12, 12, 0);
    expect_read_err(tpath("bighdr"), IDX_ERR_TRUNCATED, "12 of the 1000000000000 data bytes", NULL);
    uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    write_idx(tpath("hugehdr"), 0, 0x08, 3, huge, IMG12, 12, 0);
    expect_read_err(tpath("hugehdr"), IDX_ERR_MAGIC, "4294967295x4294967295x4294967295 elements", NULL);
}
END_TEST

/* Sizes whose product wraps around 2^64 (to exactly 0, which unchecked
 * arithmetic reads as an empty array), or overflows only with the 4-byte
 * elements of type int, or hides behind a zero size: refused by the
 * checked product, never read as a small array. */
START_TEST(read_size_overflow)
{
    uint32_t wrap[4] = {65536, 65536, 65536, 65536};   /* 2^64 bytes */
    write_idx(tpath("wrap0"), 0, 0x08, 4, wrap, NULL, 0, 0);
    expect_read_err(tpath("wrap0"), IDX_ERR_MAGIC, "65536x65536x65536x65536 elements",
                    "more data than this reader accepts", NULL);
    uint32_t eight[8];
    for (int i = 0; i < 8; i++) eight[i] = 0xFFFFFFFFu;   /* 2^256 */
    write_idx(tpath("wrap8"), 1, 0x08, 8, eight, NULL, 0, 0);
    expect_read_err(tpath("wrap8"), IDX_ERR_MAGIC, "more data than this reader accepts", NULL);
    /* 2^31 x 2^31 ints: 2^62 elements, 2^64 bytes */
    uint32_t ints[2] = {0x80000000u, 0x80000000u};
    write_idx(tpath("wrapint"), 0, 0x0C, 2, ints, NULL, 0, 0);
    idx_array_t a;
    idx_error_t e;
    int rc = idx_read_int(tpath("wrapint"), &a, &e);
    expect_err(rc, &e, IDX_ERR_MAGIC, "2147483648x2147483648 elements", NULL);
    ck_assert_ptr_null(a.data);
    /* 2^40 bytes exactly is the cap; one size more is refused, even with a
     * zero size that makes the array empty (callers multiply the sizes) */
    uint32_t cap[3] = {1024, 1024, 1048576}, over[4] = {0, 1024, 1024, 1048577};
    write_idx(tpath("cap"), 0, 0x08, 3, cap, IMG12, 12, 0);
    expect_read_err(tpath("cap"), IDX_ERR_TRUNCATED, "12 of the 1099511627776 data bytes", NULL);
    write_idx(tpath("over0"), 0, 0x08, 4, over, NULL, 0, 0);
    expect_read_err(tpath("over0"), IDX_ERR_MAGIC, "0x1024x1024x1048577 elements", NULL);
    /* an empty array of small sizes is still read */
    uint32_t empty[3] = {0, 28, 28};
    write_idx(tpath("empty"), 0, 0x08, 3, empty, NULL, 0, 0);
    ck_assert_int_eq(idx_read(tpath("empty"), &a, &e), IDX_OK);
    ck_assert_uint_eq(a.count, 0);
    ck_assert_uint_eq(a.dims[1], 28);
    idx_array_free(&a);
}
END_TEST

START_TEST(read_broken_gzip)
{
    /* Enough data that the compressed stream is more than a few bytes. */
    uint32_t d = 4000;
    uint8_t *v = malloc(d);
    ck_assert_ptr_nonnull(v);
    uint64_t s = 1;
    for (uint32_t i = 0; i < d; i++) v[i] = (uint8_t)rand64(&s);
    write_idx(tpath("good.gz"), 1, 0x08, 1, &d, v, d, 0);
    free(v);
    size_t n;
    uint8_t *b = read_file(tpath("good.gz"), &n);
    ck_assert_uint_gt(n, 100);
    /* The compressed stream cut in half. */
    write_bytes(tpath("cut.gz"), 0, b, n / 2);
    expect_read_err(tpath("cut.gz"), IDX_ERR_TRUNCATED, "truncated gzip stream", "fetch it again", NULL);
    /* Only the gzip trailer (CRC-32, length) missing. */
    write_bytes(tpath("notrailer.gz"), 0, b, n - 8);
    expect_read_err(tpath("notrailer.gz"), IDX_ERR_TRUNCATED, "truncated gzip stream", NULL);
    /* A wrong CRC: corrupt. */
    b[n - 8] ^= 0xFF;
    write_bytes(tpath("crc.gz"), 0, b, n);
    expect_read_err(tpath("crc.gz"), IDX_ERR_IO, "corrupt gzip data", "incorrect data check", NULL);
    b[n - 8] ^= 0xFF;
    /* Garbage inside the deflate stream. */
    for (size_t i = 40; i < 80; i++) b[i] = 0xFF;
    write_bytes(tpath("garbage.gz"), 0, b, n);
    expect_read_err(tpath("garbage.gz"), IDX_ERR_IO, "corrupt gzip data", NULL);
    free(b);
}
END_TEST

START_TEST(read_bad_magic_and_type)
{
    for (int gz = 0; gz < 2; gz++) {
        char name[64];
        snprintf(name, sizeof name, "text%d", gz);
        write_bytes(tpath(name), gz, "hello, world\n", 13);
        expect_read_err(tpath(name), IDX_ERR_MAGIC, "not an IDX file: magic bytes 68 65 6c 6c",
                        "expected 00 00 TT NN", NULL);
        /* Unknown type code 0x07. */
        snprintf(name, sizeof name, "type07_%d", gz);
        write_idx(tpath(name), gz, 0x07, 3, DIMS322, IMG12, 12, 0);
        expect_read_err(tpath(name), IDX_ERR_MAGIC, "magic bytes 00 00 07 03", NULL);
        /* No dimensions, too many. */
        snprintf(name, sizeof name, "nd0_%d", gz);
        write_bytes(tpath(name), gz, "\0\0\x08\0", 4);
        expect_read_err(tpath(name), IDX_ERR_MAGIC, "declares 0 dimensions (1 to 8 expected)", NULL);
        uint32_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        snprintf(name, sizeof name, "nd9_%d", gz);
        write_idx(tpath(name), gz, 0x08, 9, d9, IMG12, 1, 0);
        expect_read_err(tpath(name), IDX_ERR_MAGIC, "declares 9 dimensions", NULL);
        /* A valid IDX file of floats: wrong type, named. */
        snprintf(name, sizeof name, "float_%d", gz);
        uint8_t f[48] = {0};
        write_idx(tpath(name), gz, 0x0D, 3, DIMS322, f, 48, 0);
        expect_read_err(tpath(name), IDX_ERR_TYPE, "type 0x0d (float) is not supported",
                        "only unsigned bytes (0x08)", NULL);
        snprintf(name, sizeof name, "int_%d", gz);
        write_idx(tpath(name), gz, 0x0C, 3, DIMS322, f, 48, 0);
        expect_read_err(tpath(name), IDX_ERR_TYPE, "0x0c (int)", NULL);
    }
}
END_TEST

START_TEST(read_trailing)
{
    for (int gz = 0; gz < 2; gz++) {
        char name[64];
        snprintf(name, sizeof name, "trail%d", gz);
        write_idx(tpath(name), gz, 0x08, 3, DIMS322, IMG12, 12, 3);
        expect_read_err(tpath(name), IDX_ERR_TRAILING, "3 bytes follow the 12 data bytes the header declares (3x2x2)",
                        NULL);
    }
}
END_TEST

/* ---- the dataset --------------------------------------------------------- */

/* A dataset directory `name` with n images of r x c and the given labels. */
static const char *make_set(const char *name, const char *prefix, int gz, uint32_t n, uint32_t r, uint32_t c,
                            const uint8_t *labels, uint32_t nlabels)
{
    const char *dir = tpath(name);
    if (mkdir(dir, 0700) != 0) ck_assert_int_eq(errno, EEXIST);
    char p[4200];
    uint32_t d[3] = {n, r, c};
    size_t len = (size_t)n * r * c;
    uint8_t *img = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(img);
    for (size_t i = 0; i < len; i++) img[i] = (uint8_t)(i * 7);
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(p, gz, 0x08, 3, d, img, len, 0);
    free(img);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(p, gz, 0x08, 1, &nlabels, labels, nlabels, 0);
    return dir;
}

static const uint8_t LAB4[4] = {0, 9, 3, 9};

START_TEST(dataset_valid)
{
    const char *dir = make_set("ds", "train", 1, 4, 3, 2, LAB4, 4);
    make_set("ds", "t10k", 0, 4, 3, 2, LAB4, 4);    /* plain files for test */
    idx_dataset_opts_t o = {dir, "train", 0, 0, 0};
    idx_dataset_t ds;
    idx_error_t e;
    ck_assert_int_eq(idx_dataset_load(&o, &ds, &e), IDX_OK);
    ck_assert_str_eq(e.msg, "");
    ck_assert_uint_eq(ds.n, 4);
    ck_assert_uint_eq(ds.rows, 3);
    ck_assert_uint_eq(ds.cols, 2);
    ck_assert_int_eq(ds.classes, 10);
    ck_assert_mem_eq(ds.labels, LAB4, 4);
    ck_assert_uint_eq(ds.images[5], 35);
    idx_dataset_free(&ds);
    ck_assert_ptr_null(ds.images);
    o.split = "test";
    o.rows = 3;
    o.cols = 2;
    ck_assert_int_eq(idx_dataset_load(&o, &ds, &e), IDX_OK);
    ck_assert_uint_eq(ds.n, 4);
    idx_dataset_free(&ds);
    /* Plain files are used when the .gz ones are absent (train here). */
    const char *dir2 = make_set("ds2", "train", 0, 2, 1, 1, LAB4, 2);
    o.dir = dir2;
    o.split = NULL;
    o.rows = o.cols = 0;
    ck_assert_int_eq(idx_dataset_load(&o, &ds, &e), IDX_OK);
    ck_assert_uint_eq(ds.n, 2);
    idx_dataset_free(&ds);
}
END_TEST

START_TEST(dataset_missing)
{
    idx_dataset_t ds;
    idx_error_t e;
    idx_dataset_opts_t o = {tpath("no-such-dir"), "train", 0, 0, 0};
    int rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_NOENT, o.dir, "no such directory",
               "install dataset-fashion-mnist or pass --data DIR", NULL);
    ck_assert_ptr_null(ds.images);
    /* The directory exists, the labels file does not. */
    const char *dir = make_set("nolabels", "train", 1, 4, 3, 2, LAB4, 4);
    char p[4200];
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    ck_assert_int_eq(unlink(p), 0);
    o.dir = dir;
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_NOENT, p, "no such file", "install dataset-fashion-mnist or pass --data DIR", NULL);
    /* The test split is not there at all. */
    o.split = "test";
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_NOENT, "t10k-images-idx3-ubyte.gz", "install dataset-fashion-mnist or pass --data DIR",
               NULL);
    /* Unknown split, bad class count. */
    o.split = "validation";
    expect_err(idx_dataset_load(&o, &ds, &e), &e, IDX_ERR_ARG, "unknown split \"validation\": use train or test",
               NULL);
    o.split = "train";
    o.classes = 300;
    expect_err(idx_dataset_load(&o, &ds, &e), &e, IDX_ERR_ARG, "class count 300", NULL);
    ck_assert_int_eq(idx_dataset_load(&o, NULL, &e), IDX_ERR_ARG);
}
END_TEST

START_TEST(dataset_count_mismatch)
{
    const char *dir = make_set("count", "train", 1, 4, 3, 2, LAB4, 3);
    idx_dataset_opts_t o = {dir, "train", 10, 0, 0};
    idx_dataset_t ds;
    idx_error_t e;
    int rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_COUNT, "train-images-idx3-ubyte.gz holds 4 images but",
               "train-labels-idx1-ubyte.gz holds 3 labels", "same split", NULL);
    ck_assert_ptr_null(ds.images);
    ck_assert_ptr_null(ds.labels);
    /* No images at all. */
    dir = make_set("zero", "train", 0, 0, 3, 2, LAB4, 0);
    o.dir = dir;
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_COUNT, "train-images-idx3-ubyte", "holds no images", NULL);
}
END_TEST

START_TEST(dataset_label_range)
{
    const uint8_t lab[4] = {0, 9, 10, 1};
    const char *dir = make_set("range", "t10k", 1, 4, 3, 2, lab, 4);
    idx_dataset_opts_t o = {dir, "test", 0, 0, 0};
    idx_dataset_t ds;
    idx_error_t e;
    int rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_LABEL, "t10k-labels-idx1-ubyte.gz", "label 10 of image 2 is out of range",
               "10 classes means labels 0..9", NULL);
    o.classes = 11;
    ck_assert_int_eq(idx_dataset_load(&o, &ds, &e), IDX_OK);
    ck_assert_int_eq(ds.classes, 11);
    idx_dataset_free(&ds);
    o.classes = 2;
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_LABEL, "label 9 of image 1", "labels 0..1", NULL);
}
END_TEST

START_TEST(dataset_dims)
{
    idx_dataset_t ds;
    idx_error_t e;
    const char *dir = tpath("swapped");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    char ip[4200], lp[4200];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
    /* The labels file where the images file should be, and vice versa. */
    uint32_t n = 3;
    write_idx(ip, 1, 0x08, 1, &n, LAB4, 3, 0);
    write_idx(lp, 1, 0x08, 3, DIMS322, IMG12, 12, 0);
    idx_dataset_opts_t o = {dir, "train", 0, 0, 0};
    int rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_DIMS, ip, "images file has 1 dimension (3), expected 3", NULL);
    write_idx(ip, 1, 0x08, 3, DIMS322, IMG12, 12, 0);
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_DIMS, lp, "labels file has 3 dimensions (3x2x2), expected 1", NULL);
    write_idx(lp, 1, 0x08, 1, &n, LAB4, 3, 0);
    ck_assert_int_eq(idx_dataset_load(&o, &ds, &e), IDX_OK);
    idx_dataset_free(&ds);
    /* The model wants 28x28. */
    o.rows = 28;
    o.cols = 28;
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_DIMS, ip, "images are 2x2, expected 28x28", NULL);
    /* A broken file inside a dataset keeps idx_read's message. */
    write_idx(ip, 1, 0x08, 3, DIMS322, IMG12, 7, 0);
    o.rows = o.cols = 0;
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_TRUNCATED, ip, "7 of the 12 data bytes", NULL);
    write_idx(lp, 1, 0x0D, 1, &n, IMG12, 12, 0);
    write_idx(ip, 1, 0x08, 3, DIMS322, IMG12, 12, 0);
    rc = idx_dataset_load(&o, &ds, &e);
    expect_err(rc, &e, IDX_ERR_TYPE, lp, "(float)", NULL);
}
END_TEST

/* ---- conversions ---------------------------------------------------------- */

START_TEST(to_double)
{
    const uint8_t v[4] = {0, 51, 255, 255};
    double d[4];
    idx_to_double(v, 4, d);
    ck_assert_double_eq(d[0], 0.0);
    ck_assert_double_eq_tol(d[1], 0.2, 1e-15);
    ck_assert_double_eq(d[2], 1.0);
    double mean, sd;
    idx_mean_std(v, 4, &mean, &sd);
    double m = (0 + 0.2 + 1 + 1) / 4.0;
    double var = ((0 - m) * (0 - m) + (0.2 - m) * (0.2 - m) + 2 * (1 - m) * (1 - m)) / 4.0;
    ck_assert_double_eq_tol(mean, m, 1e-12);
    ck_assert_double_eq_tol(sd, sqrt(var), 1e-12);
    ck_assert_int_eq(idx_to_double_norm(v, 4, mean, sd, d), IDX_OK);
    ck_assert_double_eq_tol(d[0], -m / sqrt(var), 1e-12);
    ck_assert_double_eq_tol(d[2], (1 - m) / sqrt(var), 1e-12);
    double t = 42;
    ck_assert_int_eq(idx_to_double_norm(v, 1, 0.5, 0.0, &t), IDX_ERR_ARG);
    ck_assert_int_eq(idx_to_double_norm(v, 1, 0.5, -1.0, &t), IDX_ERR_ARG);
    ck_assert_int_eq(idx_to_double_norm(v, 1, 0.5, NAN, &t), IDX_ERR_ARG);
    ck_assert_double_eq(t, 42);
    idx_mean_std(v, 0, &mean, &sd);
    ck_assert_double_eq(mean, 0);
    ck_assert_double_eq(sd, 0);
    ck_assert_str_eq(idx_strerror(IDX_ERR_LABEL), "label out of range");
    ck_assert_str_eq(idx_strerror(12345), "unknown IDX error code");
    ck_assert_str_eq(idx_type_name(0x0E), "double");
}
END_TEST

/* ---- the real data ---------------------------------------------------------- */

START_TEST(fashion_mnist)
{
    struct stat st;
    if (stat(IDX_DEFAULT_DIR, &st) != 0) {
        printf("SKIP part: %s not found (install dataset-fashion-mnist to check the real data)\n",
               IDX_DEFAULT_DIR);
        return;
    }
    idx_dataset_t ds;
    idx_error_t e;
    idx_dataset_opts_t o = {NULL, "train", 10, 28, 28};
    ck_assert_msg(idx_dataset_load(&o, &ds, &e) == IDX_OK, "%s", e.msg);
    ck_assert_uint_eq(ds.n, 60000);
    ck_assert_uint_eq(ds.rows, 28);
    ck_assert_uint_eq(ds.cols, 28);
    size_t per[10] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert_uint_lt(ds.labels[i], 10);
        per[ds.labels[i]]++;
    }
    for (int c = 0; c < 10; c++) ck_assert_uint_eq(per[c], 6000);   /* balanced */
    double mean, sd;
    idx_mean_std(ds.images, ds.n * 28 * 28, &mean, &sd);
    /* The well-known Fashion-MNIST training statistics. */
    ck_assert_double_eq_tol(mean, 0.2860, 1e-3);
    ck_assert_double_eq_tol(sd, 0.3530, 1e-3);
    idx_dataset_free(&ds);
    o.split = "test";
    ck_assert_msg(idx_dataset_load(&o, &ds, &e) == IDX_OK, "%s", e.msg);
    ck_assert_uint_eq(ds.n, 10000);
    idx_dataset_free(&ds);
}
END_TEST

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    chmod(p, 0700);
    remove(p);
    return 0;
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t len = strlen(base) + 32;
    g_dir = malloc(len);
    if (g_dir) snprintf(g_dir, len, "%s/spin-idx-XXXXXX", base);
    if (!g_dir || !mkdtemp(g_dir)) {
        perror("test_idx: cannot make a temporary directory");
        return 99;
    }
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("read");
    tcase_add_test(tc, read_valid_plain_and_gz);
    tcase_add_test(tc, read_missing_and_not_a_file);
    tcase_add_test(tc, read_truncated);
    tcase_add_test(tc, read_size_overflow);
    tcase_add_test(tc, read_broken_gzip);
    tcase_add_test(tc, read_bad_magic_and_type);
    tcase_add_test(tc, read_trailing);
    suite_add_tcase(s, tc);
    tc = tcase_create("dataset");
    tcase_add_test(tc, dataset_valid);
    tcase_add_test(tc, dataset_missing);
    tcase_add_test(tc, dataset_count_mismatch);
    tcase_add_test(tc, dataset_label_range);
    tcase_add_test(tc, dataset_dims);
    tcase_add_test(tc, to_double);
    suite_add_tcase(s, tc);
    tc = tcase_create("fashion-mnist");
    tcase_add_test(tc, fashion_mnist);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(g_dir);
    return failed ? 1 : 0;
}
