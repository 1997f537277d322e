/* idx.h - IDX files (the MNIST layout) and the Fashion-MNIST dataset, for
 * spin-train and spin-infer (apps/libspinapp.la; not installed).
 *
 * An IDX file is a 4-byte magic 00 00 TT NN (TT the element type, NN the
 * number of dimensions), NN big-endian uint32 sizes, then the elements in
 * row-major order.  Files may be gzipped or plain; zlib reads both.
 * idx_read reads unsigned bytes (type 0x08) only, idx_read_int also 32-bit
 * integers (type 0x0C); the other IDX types are recognised and refused by
 * name.
 *
 * Nothing here exits or prints: every function returns IDX_OK or an
 * IDX_ERR_* code and, on error, fills an idx_error_t whose message names the
 * file, the problem and the remedy.  On error the output structure is left
 * empty (nothing to free); on success it owns its memory until the matching
 * *_free. */
#ifndef SPIN_APPS_IDX_H
#define SPIN_APPS_IDX_H

#include <stddef.h>
#include <stdint.h>

/* Where Debian's dataset-fashion-mnist installs the files. */
#define IDX_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
/* The most dimensions an IDX file may declare here (MNIST uses 1 and 3). */
#define IDX_MAX_DIMS 8

enum {
    IDX_OK = 0,
    IDX_ERR_ARG = -1,        /* bad argument (NULL path, unknown split) */
    IDX_ERR_NOENT = -2,      /* file missing (or not readable) */
    IDX_ERR_IO = -3,         /* read error, corrupt gzip stream */
    IDX_ERR_TRUNCATED = -4,  /* file ends before the header or data does */
    IDX_ERR_TRAILING = -5,   /* bytes after the declared data */
    IDX_ERR_MAGIC = -6,      /* not an IDX file (magic, dimension count) */
    IDX_ERR_TYPE = -7,       /* an IDX element type not read here */
    IDX_ERR_DIMS = -8,       /* dimensions not what the caller needs */
    IDX_ERR_COUNT = -9,      /* images and labels disagree on the count */
    IDX_ERR_LABEL = -10,     /* a label >= the number of classes */
    IDX_ERR_NOMEM = -11
};

typedef struct {
    int code;           /* IDX_OK or IDX_ERR_* */
    char msg[1536];     /* "" on success */
} idx_error_t;

/* One IDX array. */
typedef struct {
    int ndims;
    uint32_t dims[IDX_MAX_DIMS];
    size_t count;       /* product of dims: number of elements */
    uint8_t *data;      /* type 0x08: count bytes; 0x0C: count int32_t in
                           host byte order (idx_value reads either); row-major */
    int type;           /* the IDX element type: 0x08 (ubyte) or 0x0C (int) */
} idx_array_t;

/* Read PATH (gzipped or plain).  Checks the magic, the type (ubyte), that the
 * file holds exactly the declared number of elements. */
int idx_read(const char *path, idx_array_t *out, idx_error_t *err);
/* The same, reading unsigned bytes (0x08) or big-endian 32-bit signed
 * integers (0x0C, e.g. token ids); out->type says which. */
int idx_read_int(const char *path, idx_array_t *out, idx_error_t *err);
/* Element i (< count) as an integer, whatever the type. */
int64_t idx_value(const idx_array_t *a, size_t i);
void idx_array_free(idx_array_t *a);

/* Short name of an IDX element type code ("ubyte", "float", ...; "unknown"). */
const char *idx_type_name(int type);
/* Name of an IDX_ERR_* code ("truncated file", ...). */
const char *idx_strerror(int code);

/* A labelled image set. */
typedef struct {
    size_t n;           /* number of images = number of labels */
    uint32_t rows, cols;
    int classes;        /* every label is < classes */
    uint8_t *images;    /* [n][rows][cols] */
    uint8_t *labels;    /* [n] */
} idx_dataset_t;

typedef struct {
    const char *dir;    /* NULL or "": IDX_DEFAULT_DIR */
    const char *split;  /* "train" (train-*) or "test" (t10k-*); NULL: train */
    int classes;        /* labels must be < classes; 0: 10 */
    uint32_t rows, cols;/* required image size; 0: any */
} idx_dataset_opts_t;

/* Load DIR/{train,t10k}-images-idx3-ubyte[.gz] and the matching
 * -labels-idx1-ubyte[.gz] (the .gz name first, then the plain one).  Checks
 * 3 dimensions for images and 1 for labels, the image size, equal counts and
 * the label range.  opts may be NULL (defaults). */
int idx_dataset_load(const idx_dataset_opts_t *opts, idx_dataset_t *ds, idx_error_t *err);
void idx_dataset_free(idx_dataset_t *ds);

/* dst[i] = src[i] / 255, in [0, 1]. */
void idx_to_double(const uint8_t *src, size_t count, double *dst);
/* dst[i] = (src[i] / 255 - mean) / std; std must be > 0 (else IDX_ERR_ARG,
 * dst untouched). */
int idx_to_double_norm(const uint8_t *src, size_t count, double mean, double std, double *dst);
/* Mean and standard deviation of src[i] / 255 over count elements (the values
 * to pass to idx_to_double_norm, computed on the training split).  count 0:
 * mean 0, std 0. */
void idx_mean_std(const uint8_t *src, size_t count, double *mean, double *std);

#endif
