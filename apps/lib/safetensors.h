/* safetensors.h - read safetensors files (the format PyTorch models are
 * shared in): an 8-byte little-endian header length, a JSON header
 * {name: {"dtype", "shape", "data_offsets"}}, then the data.  F32, F64,
 * F16, BF16, I64, I32 and U8 tensors are read as doubles.  Every size in
 * the header must be a non-negative integer (json_size) and the element
 * and byte counts are overflow-checked, so a hostile header is refused, not
 * wrapped.  Every error names the file, the tensor, the field and the
 * problem. */
#ifndef SPIN_APPS_SAFETENSORS_H
#define SPIN_APPS_SAFETENSORS_H

#include <stddef.h>

#define ST_MAX_DIMS 8

typedef struct st_entry {
    char *name;
    char dtype[8];
    int nd;
    size_t shape[ST_MAX_DIMS];
    size_t begin, end;        /* byte offsets into the data section */
} st_entry_t;

typedef struct st_file {
    char *path;
    size_t n;
    st_entry_t *e;
    unsigned char *data;
    size_t data_len;
} st_file_t;

int st_read(const char *path, st_file_t *f, char *msg, size_t msglen);
void st_free(st_file_t *f);
const st_entry_t *st_find(const st_file_t *f, const char *name);
/* The tensor `name` as doubles; its shape must be exactly (nd, shape),
 * else an error naming the tensor, its shape and the expected one. */
int st_get(const st_file_t *f, const char *name, int nd, const size_t *shape, double *out, char *msg,
           size_t msglen);

/* Write named F32 tensors as safetensors atomically (a private temporary
 * file, mode 0600 whatever the umask, renamed over path once complete). */
typedef struct st_tensor {
    char name[64];
    int nd;
    size_t shape[4];
    const double *data;
} st_tensor_t;
int safetensors_write(const char *path, const st_tensor_t *t, int n, char *msg, size_t msglen);

#endif
