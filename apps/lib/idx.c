/* idx.c - IDX reader and the Fashion-MNIST loader; see idx.h. */
#include "config.h"

#include "idx.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checked.h"

#define REFETCH "the file is incomplete or damaged: fetch it again (or reinstall dataset-fashion-mnist)"
#define NOT_IDX "pass IDX files (the *-idx3-ubyte / *-idx1-ubyte files of an MNIST-layout dataset, gzipped or plain)"
/* Largest element count accepted from a header (1 TiB of bytes). */
#define IDX_MAX_COUNT ((uint64_t)1 << 40)
/* First allocation for the data; it grows as data actually arrives, so a
 * header that lies about its size cannot make us allocate terabytes. */
#define IDX_FIRST_CHUNK ((size_t)16 << 20)

static int fail(idx_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(idx_error_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

static void ok(idx_error_t *err)
{
    if (err) {
        err->code = IDX_OK;
        err->msg[0] = '\0';
    }
}

const char *idx_type_name(int type)
{
    switch (type) {
    case 0x08: return "ubyte";
    case 0x09: return "sbyte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return "unknown";
    }
}

const char *idx_strerror(int code)
{
    switch (code) {
    case IDX_OK: return "success";
    case IDX_ERR_ARG: return "invalid argument";
    case IDX_ERR_NOENT: return "file not found";
    case IDX_ERR_IO: return "read error";
    case IDX_ERR_TRUNCATED: return "truncated file";
    case IDX_ERR_TRAILING: return "data after the end of the IDX array";
    case IDX_ERR_MAGIC: return "not an IDX file";
    case IDX_ERR_TYPE: return "unsupported IDX element type";
    case IDX_ERR_DIMS: return "unexpected dimensions";
    case IDX_ERR_COUNT: return "image and label counts differ";
    case IDX_ERR_LABEL: return "label out of range";
    case IDX_ERR_NOMEM: return "out of memory";
    default: return "unknown IDX error code";
    }
}

static void dims_str(const uint32_t *dims, int nd, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < nd && at < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%u", i ? "x" : "", (unsigned)dims[i]);
        if (w < 0) break;
        at += (size_t)w;
    }
}

/* Why a gzread came up short: 0 for a clean end of file, else an error code
 * with the message filled in. */
static int short_read(gzFile gz, const char *path, size_t have, const char *what, idx_error_t *err)
{
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    if (zerr == Z_OK) return 0;
    /* zlib prefixes its messages with the "path" given to gzdopen: "<fd:3>: ". */
    if (zmsg && strncmp(zmsg, "<fd:", 4) == 0 && strstr(zmsg, ": ")) zmsg = strstr(zmsg, ": ") + 2;
    if (!zmsg) zmsg = "";
    if (zerr == Z_ERRNO)
        return fail(err, IDX_ERR_IO, "%s: read error after %zu bytes of %s: %s", path, have, what,
                    strerror(errno));
    if (zerr == Z_BUF_ERROR)
        return fail(err, IDX_ERR_TRUNCATED,
                    "%s: truncated gzip stream: it ends after %zu bytes of %s (zlib: %s); " REFETCH,
                    path, have, what, zmsg);
    if (zerr == Z_MEM_ERROR)
        return fail(err, IDX_ERR_NOMEM, "%s: out of memory while decompressing", path);
    return fail(err, IDX_ERR_IO, "%s: corrupt gzip data in %s (zlib: %s); " REFETCH, path, what, zmsg);
}

/* Read up to n bytes; *got is what arrived.  0, or an error already reported. */
static int read_some(gzFile gz, const char *path, void *buf, size_t n, size_t *got,
                     const char *what, size_t base, idx_error_t *err)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got;
        if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
        int r = gzread(gz, (char *)buf + *got, (unsigned)want);
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        if (r < 0) {
            int rc = short_read(gz, path, base + *got, what, err);
            return rc ? rc : fail(err, IDX_ERR_IO, "%s: read error in %s", path, what);
        }
        return short_read(gz, path, base + *got, what, err);
    }
    return 0;
}

static int open_gz(const char *path, gzFile *out, idx_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return fail(err, IDX_ERR_NOENT, "%s: no such file: check the path", path);
        return fail(err, IDX_ERR_NOENT, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return fail(err, IDX_ERR_NOENT, "%s: is a directory, not an IDX file", path);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return fail(err, IDX_ERR_NOMEM, "%s: out of memory opening the file", path);
    }
    *out = gz;
    return 0;
}

/* Big-endian int32 elements to host order, in place. */
static void int32_from_be(uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = data + 4 * i;
        int32_t v = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        memcpy(data + 4 * i, &v, sizeof v);
    }
}

/* allow_int: 32-bit integers (0x0C) are read too */
static int read_body(gzFile gz, const char *path, idx_array_t *a, int allow_int, idx_error_t *err)
{
    unsigned char hdr[4];
    size_t got;
    int rc = read_some(gz, path, hdr, 4, &got, "the IDX header", 0, err);
    if (rc) return rc;
    if (got < 4)
        return fail(err, IDX_ERR_TRUNCATED,
                    "%s: truncated: the file ends after %zu bytes, inside the 4-byte IDX magic; %s",
                    path, got, got == 0 ? "the file is empty: fetch it again (or reinstall dataset-fashion-mnist)" : REFETCH);
    int type = hdr[2], nd = hdr[3];
    if (hdr[0] != 0 || hdr[1] != 0 || strcmp(idx_type_name(type), "unknown") == 0)
        return fail(err, IDX_ERR_MAGIC,
                    "%s: not an IDX file: magic bytes %02x %02x %02x %02x, expected 00 00 TT NN "
                    "(TT the element type, 08 for unsigned bytes; NN the number of dimensions); " NOT_IDX,
                    path, hdr[0], hdr[1], hdr[2], hdr[3]);
    if (nd < 1 || nd > IDX_MAX_DIMS)
        return fail(err, IDX_ERR_MAGIC,
                    "%s: not an IDX file: the header declares %d dimensions (1 to %d expected); " NOT_IDX,
                    path, nd, IDX_MAX_DIMS);
    if (type != 0x08 && !(allow_int && type == 0x0C))
        return fail(err, IDX_ERR_TYPE,
                    "%s: IDX element type 0x%02x (%s) is not supported: only unsigned bytes (0x08)%s are read; "
                    "convert the file to ubyte%s or pass the ubyte files", path, type, idx_type_name(type),
                    allow_int ? " and 32-bit integers (0x0C)" : "", allow_int ? " or int" : "");
    size_t es = type == 0x0C ? 4 : 1;
    unsigned char dimb[4 * IDX_MAX_DIMS];
    rc = read_some(gz, path, dimb, (size_t)4 * nd, &got, "the IDX header", 4, err);
    if (rc) return rc;
    if (got < (size_t)4 * nd)
        return fail(err, IDX_ERR_TRUNCATED,
                    "%s: truncated: the file ends after %zu bytes, inside the IDX header (%d bytes for %d dimensions); " REFETCH,
                    path, 4 + got, 4 + 4 * nd, nd);
    /* Bytes: the product of the sizes, checked.  The product of the
     * non-zero sizes must be within the cap too, so that a caller
     * multiplying the sizes of an empty array cannot overflow either. */
    size_t nonzero = es;
    int over = 0, empty = 0;
    for (int i = 0; i < nd; i++) {
        const unsigned char *p = dimb + 4 * i;
        a->dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (a->dims[i] == 0) empty = 1;
        else if (!over) over = checked_mul(nonzero, a->dims[i], &nonzero) || nonzero > IDX_MAX_COUNT;
    }
    size_t count = empty ? 0 : nonzero;
    a->ndims = nd;
    char ds[16 * IDX_MAX_DIMS];
    dims_str(a->dims, nd, ds, sizeof ds);
    if (over)
        return fail(err, IDX_ERR_MAGIC, "%s: the header declares %s elements, more data than this reader accepts (2^40 bytes); " NOT_IDX,
                    path, ds);
    size_t n = (size_t)count;
    size_t cap = n < IDX_FIRST_CHUNK ? n : IDX_FIRST_CHUNK;
    uint8_t *data = malloc(cap ? cap : 1);
    if (!data) return fail(err, IDX_ERR_NOMEM, "%s: out of memory for %zu bytes", path, cap);
    size_t have = 0;
    while (have < n) {
        if (have == cap) {
            size_t ncap = cap > n / 2 ? n : cap * 2;
            uint8_t *nd2 = realloc(data, ncap);
            if (!nd2) {
                free(data);
                return fail(err, IDX_ERR_NOMEM, "%s: out of memory for %zu bytes", path, ncap);
            }
            data = nd2;
            cap = ncap;
        }
        rc = read_some(gz, path, data + have, cap - have, &got, "data", have, err);
        have += got;
        if (rc) {
            free(data);
            return rc;
        }
        if (have < cap) break;   /* clean end of file */
    }
    if (have < n) {
        free(data);
        return fail(err, IDX_ERR_TRUNCATED,
                    "%s: truncated: %zu of the %zu data bytes the header declares (%s) are present; " REFETCH,
                    path, have, n, ds);
    }
    /* Reading on also checks the gzip trailer (CRC, length). */
    unsigned char extra[256];
    size_t more = 0;
    for (;;) {
        rc = read_some(gz, path, extra, sizeof extra, &got, "the data's end", n + more, err);
        more += got;
        if (rc) {
            free(data);
            return rc;
        }
        if (got < sizeof extra || more > ((size_t)1 << 20)) break;
    }
    if (more > 0) {
        free(data);
        return fail(err, IDX_ERR_TRAILING,
                    "%s: %s%zu bytes follow the %zu data bytes the header declares (%s): the header does not "
                    "describe this file; " REFETCH,
                    path, more > ((size_t)1 << 20) ? "more than " : "", more, n, ds);
    }
    if (es == 4) int32_from_be(data, n / 4);
    a->count = n / es;
    a->data = data;
    a->type = type;
    return 0;
}

static int read_file(const char *path, idx_array_t *out, int allow_int, idx_error_t *err)
{
    ok(err);
    if (!out) return fail(err, IDX_ERR_ARG, "idx_read: no output array");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return fail(err, IDX_ERR_ARG, "idx_read: empty file name");
    gzFile gz = NULL;
    int rc = open_gz(path, &gz, err);
    if (rc) return rc;
    rc = read_body(gz, path, out, allow_int, err);
    gzclose_r(gz);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

int idx_read(const char *path, idx_array_t *out, idx_error_t *err)
{
    return read_file(path, out, 0, err);
}

int idx_read_int(const char *path, idx_array_t *out, idx_error_t *err)
{
    return read_file(path, out, 1, err);
}

int64_t idx_value(const idx_array_t *a, size_t i)
{
    if (a->type == 0x0C) {
        int32_t v;
        memcpy(&v, a->data + 4 * i, sizeof v);
        return v;
    }
    return a->data[i];
}

void idx_array_free(idx_array_t *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- the dataset --------------------------------------------------------- */

#define INSTALL "install dataset-fashion-mnist or pass --data DIR"
#define LAYOUT "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"

/* DIR/STEM.gz if it exists, else DIR/STEM if that exists; *path is malloc'd. */
static int find_file(const char *dir, const char *stem, char **path, idx_error_t *err)
{
    size_t len = strlen(dir) + strlen(stem) + 8;
    char *gzp = malloc(len), *plain = malloc(len);
    if (!gzp || !plain) {
        free(gzp);
        free(plain);
        return fail(err, IDX_ERR_NOMEM, "out of memory");
    }
    snprintf(gzp, len, "%s/%s.gz", dir, stem);
    snprintf(plain, len, "%s/%s", dir, stem);
    struct stat st;
    if (stat(gzp, &st) == 0 || errno != ENOENT) {
        free(plain);
        *path = gzp;
        return 0;
    }
    if (stat(plain, &st) == 0 || errno != ENOENT) {
        free(gzp);
        *path = plain;
        return 0;
    }
    struct stat dst;
    if (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode))
        fail(err, IDX_ERR_NOENT, "%s: no such directory (looking for %s.gz): " INSTALL
             " naming a directory with " LAYOUT, dir, stem);
    else
        fail(err, IDX_ERR_NOENT, "%s: no such file (nor %s): " INSTALL " naming a directory with " LAYOUT,
             gzp, plain);
    free(gzp);
    free(plain);
    return IDX_ERR_NOENT;
}

int idx_dataset_load(const idx_dataset_opts_t *opts, idx_dataset_t *ds, idx_error_t *err)
{
    ok(err);
    if (!ds) return fail(err, IDX_ERR_ARG, "idx_dataset_load: no output dataset");
    memset(ds, 0, sizeof *ds);
    idx_dataset_opts_t o = {0};
    if (opts) o = *opts;
    const char *dir = o.dir && *o.dir ? o.dir : IDX_DEFAULT_DIR;
    const char *prefix;
    if (!o.split || strcmp(o.split, "train") == 0) prefix = "train";
    else if (strcmp(o.split, "test") == 0 || strcmp(o.split, "t10k") == 0) prefix = "t10k";
    else return fail(err, IDX_ERR_ARG, "unknown split \"%s\": use train or test", o.split);
    int classes = o.classes ? o.classes : 10;
    if (classes < 1 || classes > 256)
        return fail(err, IDX_ERR_ARG, "class count %d is out of range: labels are bytes, use 1..256", classes);

    char stem[64];
    char *ipath = NULL, *lpath = NULL;
    idx_array_t im = {0}, lb = {0};
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    int rc = find_file(dir, stem, &ipath, err);
    if (rc) goto out;
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    rc = find_file(dir, stem, &lpath, err);
    if (rc) goto out;

    rc = idx_read(ipath, &im, err);
    if (rc == IDX_ERR_NOENT) {
        /* Present but unreadable (permissions); say what to do. */
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l, "; " INSTALL);
    }
    if (rc) goto out;
    if (im.ndims != 3) {
        char d[160];
        dims_str(im.dims, im.ndims, d, sizeof d);
        rc = fail(err, IDX_ERR_DIMS,
                  "%s: the images file has %d dimension%s (%s), expected 3 ([n][rows][cols]); "
                  "is this a labels file? Pass the *-images-idx3-ubyte file",
                  ipath, im.ndims, im.ndims == 1 ? "" : "s", d);
        goto out;
    }
    if (im.dims[1] == 0 || im.dims[2] == 0 || (o.rows && im.dims[1] != o.rows) || (o.cols && im.dims[2] != o.cols)) {
        if (o.rows || o.cols)
            rc = fail(err, IDX_ERR_DIMS, "%s: images are %ux%u, expected %ux%u (the model's input size); "
                      "use a dataset with %ux%u images", ipath, (unsigned)im.dims[1], (unsigned)im.dims[2],
                      (unsigned)o.rows, (unsigned)o.cols, (unsigned)o.rows, (unsigned)o.cols);
        else
            rc = fail(err, IDX_ERR_DIMS, "%s: images are %ux%u: an image needs at least one row and column",
                      ipath, (unsigned)im.dims[1], (unsigned)im.dims[2]);
        goto out;
    }
    if (im.dims[0] == 0) {
        rc = fail(err, IDX_ERR_COUNT, "%s: the file holds no images; " REFETCH, ipath);
        goto out;
    }

    rc = idx_read(lpath, &lb, err);
    if (rc == IDX_ERR_NOENT) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l, "; " INSTALL);
    }
    if (rc) goto out;
    if (lb.ndims != 1) {
        char d[160];
        dims_str(lb.dims, lb.ndims, d, sizeof d);
        rc = fail(err, IDX_ERR_DIMS,
                  "%s: the labels file has %d dimensions (%s), expected 1 ([n]); "
                  "is this an images file? Pass the *-labels-idx1-ubyte file", lpath, lb.ndims, d);
        goto out;
    }
    if (lb.dims[0] != im.dims[0]) {
        rc = fail(err, IDX_ERR_COUNT,
                  "%s holds %u images but %s holds %u labels: the two files must be the same split of "
                  "the same dataset; reinstall dataset-fashion-mnist or fix --data DIR",
                  ipath, (unsigned)im.dims[0], lpath, (unsigned)lb.dims[0]);
        goto out;
    }
    for (size_t i = 0; i < lb.count; i++) {
        if (lb.data[i] >= classes) {
            rc = fail(err, IDX_ERR_LABEL,
                      "%s: label %u of image %zu is out of range: %d classes means labels 0..%d; "
                      "wrong labels file, or the model needs more classes",
                      lpath, (unsigned)lb.data[i], i, classes, classes - 1);
            goto out;
        }
    }
    ds->n = im.dims[0];
    ds->rows = im.dims[1];
    ds->cols = im.dims[2];
    ds->classes = classes;
    ds->images = im.data;
    ds->labels = lb.data;
    im.data = NULL;
    lb.data = NULL;
    rc = IDX_OK;
out:
    idx_array_free(&im);
    idx_array_free(&lb);
    free(ipath);
    free(lpath);
    return rc;
}

void idx_dataset_free(idx_dataset_t *ds)
{
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* ---- conversion --------------------------------------------------------- */

void idx_to_double(const uint8_t *src, size_t count, double *dst)
{
    for (size_t i = 0; i < count; i++) dst[i] = src[i] / 255.0;
}

int idx_to_double_norm(const uint8_t *src, size_t count, double mean, double std, double *dst)
{
    if (!(std > 0) || !isfinite(std) || !isfinite(mean)) return IDX_ERR_ARG;
    double inv = 1.0 / std;
    for (size_t i = 0; i < count; i++) dst[i] = (src[i] / 255.0 - mean) * inv;
    return IDX_OK;
}

void idx_mean_std(const uint8_t *src, size_t count, double *mean, double *std)
{
    if (count == 0) {
        *mean = 0;
        *std = 0;
        return;
    }
    /* Exact integer sums (a histogram), then one division. */
    uint64_t hist[256] = {0};
    for (size_t i = 0; i < count; i++) hist[src[i]]++;
    double m = 0;
    for (int v = 0; v < 256; v++) m += (double)hist[v] * (v / 255.0);
    m /= (double)count;
    double var = 0;
    for (int v = 0; v < 256; v++) {
        double d = v / 255.0 - m;
        var += (double)hist[v] * d * d;
    }
    *mean = m;
    *std = sqrt(var / (double)count);
}
