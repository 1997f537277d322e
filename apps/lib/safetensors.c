/* safetensors.c - see safetensors.h. */
#include "config.h"

#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checked.h"
#include "json.h"

#include <spin/errors.h>

static size_t dtype_size(const char *d)
{
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    if (!strcmp(d, "F32") || !strcmp(d, "I32")) return 4;
    if (!strcmp(d, "F16") || !strcmp(d, "BF16")) return 2;
    if (!strcmp(d, "U8")) return 1;
    return 0;
}

void st_free(st_file_t *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->e[i].name);
    free(f->e);
    free(f->data);
    free(f->path);
    memset(f, 0, sizeof *f);
}

int st_read(const char *path, st_file_t *f, char *msg, size_t msglen)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(msg, msglen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char le[8];
    char *hdr = NULL;
    json_t *j = NULL;
    int rc = -1;
    uint64_t hl = 0;
    if (fread(le, 8, 1, fp) != 1) {
        snprintf(msg, msglen, "%s: too short for a safetensors file", path);
        goto out;
    }
    for (int i = 7; i >= 0; i--) hl = hl << 8 | le[i];
    if (fseek(fp, 0, SEEK_END) != 0) goto io;
    long total = ftell(fp);
    if (total < 8 || hl > (uint64_t)total - 8 || hl > (64u << 20)) {
        snprintf(msg, msglen, "%s: header length %llu does not fit the file (%ld bytes): not a safetensors file?",
                 path, (unsigned long long)hl, total);
        goto out;
    }
    hdr = malloc(hl + 1);
    f->data_len = (size_t)total - 8 - (size_t)hl;
    f->data = malloc(f->data_len ? f->data_len : 1);
    if (!hdr || !f->data) goto io;
    if (fseek(fp, 8, SEEK_SET) != 0 || fread(hdr, 1, hl, fp) != hl ||
        (f->data_len && fread(f->data, 1, f->data_len, fp) != f->data_len))
        goto io;
    hdr[hl] = 0;
    char err[256];
    j = json_parse(hdr, (size_t)hl, err, sizeof err);
    if (!j || j->type != JSON_OBJ) {
        snprintf(msg, msglen, "%s: bad header: %s", path, j ? "not a JSON object" : err);
        goto out;
    }
    f->e = calloc(j->n ? j->n : 1, sizeof *f->e);
    if (!f->e) goto io;
    for (size_t i = 0; i < j->n; i++) {
        if (!strcmp(j->keys[i], "__metadata__")) continue;
        const json_t *t = j->items[i], *dt = json_get(t, "dtype"), *sh = json_get(t, "shape"),
                     *off = json_get(t, "data_offsets");
        st_entry_t *e = &f->e[f->n];
        if (!dt || dt->type != JSON_STR || !sh || sh->type != JSON_ARR || sh->n > ST_MAX_DIMS || !off ||
            off->type != JSON_ARR || off->n != 2) {
            snprintf(msg, msglen, "%s: tensor \"%s\" has a malformed header entry", path, j->keys[i]);
            goto out;
        }
        e->name = strdup(j->keys[i]);
        if (!e->name) goto io;
        f->n++;
        snprintf(e->dtype, sizeof e->dtype, "%s", dt->str);
        e->nd = (int)sh->n;
        /* Sizes from the file: non-negative integers, every product and
         * sum checked (a wrapped count would pass the offsets check). */
        char why[160];
        for (size_t d = 0; d < sh->n; d++)
            if (json_size(sh->items[d], JSON_SIZE_MAX, &e->shape[d], why, sizeof why)) {
                snprintf(msg, msglen, "%s: tensor \"%s\": \"shape\"[%zu] %s", path, e->name, d, why);
                goto out;
            }
        for (int k = 0; k < 2; k++)
            if (json_size(off->items[k], JSON_SIZE_MAX, k ? &e->end : &e->begin, why, sizeof why)) {
                snprintf(msg, msglen, "%s: tensor \"%s\": \"data_offsets\"[%d] %s", path, e->name, k, why);
                goto out;
            }
        size_t ds = dtype_size(e->dtype);
        if (!ds) {
            snprintf(msg, msglen, "%s: tensor \"%s\" has dtype %s (supported: F64 F32 F16 BF16 I64 I32 U8)", path,
                     e->name, e->dtype);
            goto out;
        }
        size_t cnt = 1, bytes;
        int over = 0;
        for (size_t d = 0; d < sh->n && !over; d++) over = checked_mul(cnt, e->shape[d], &cnt);
        if (over || checked_mul(cnt, ds, &bytes)) {
            char have[ST_MAX_DIMS * 21 + 1] = "";
            for (int d = 0; d < e->nd; d++)
                snprintf(have + strlen(have), sizeof have - strlen(have), "%s%zu", d ? "," : "", e->shape[d]);
            snprintf(msg, msglen, "%s: tensor \"%s\": \"shape\" [%s] of %s holds more than 2^64 %s: not a valid "
                     "safetensors file", path, e->name, have, e->dtype, over ? "elements" : "bytes");
            goto out;
        }
        if (e->end < e->begin || e->end > f->data_len || e->end - e->begin != bytes) {
            snprintf(msg, msglen, "%s: tensor \"%s\": data offsets [%zu, %zu) do not match its shape and dtype (%zu "
                     "bytes) or lie outside the file's %zu data bytes (truncated?)", path, e->name, e->begin, e->end,
                     bytes, f->data_len);
            goto out;
        }
    }
    f->path = strdup(path);
    rc = f->path ? 0 : -1;
    goto out;
io:
    snprintf(msg, msglen, "%s: read error or out of memory (%s)", path, strerror(errno));
out:
    fclose(fp);
    free(hdr);
    json_free(j);
    if (rc) st_free(f);
    return rc;
}

const st_entry_t *st_find(const st_file_t *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->e[i].name, name)) return &f->e[i];
    return NULL;
}

static double half_to_double(uint16_t h, int bf16)
{
    if (bf16) {
        uint32_t u = (uint32_t)h << 16;
        float v;
        memcpy(&v, &u, 4);
        return v;
    }
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return s ? -v : v;
}

int st_get(const st_file_t *f, const char *name, int nd, const size_t *shape, double *out, char *msg, size_t msglen)
{
    const st_entry_t *e = st_find(f, name);
    char want[160] = "", have[160] = "";
    for (int d = 0; d < nd; d++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%zu", d ? "," : "", shape[d]);
    if (!e) {
        snprintf(msg, msglen, "%s: tensor \"%s\" [%s] is missing", f->path, name, want);
        return -1;
    }
    int ok = e->nd == nd;
    for (int d = 0; d < e->nd; d++) {
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%zu", d ? "," : "", e->shape[d]);
        if (ok && e->shape[d] != shape[d]) ok = 0;
    }
    if (!ok) {
        snprintf(msg, msglen, "%s: tensor \"%s\" has shape [%s], expected [%s]", f->path, name, have, want);
        return -1;
    }
    /* the shape is the entry's, whose bytes st_read checked to fit */
    size_t cnt = 1;
    for (int d = 0; d < nd; d++) cnt *= shape[d];
    const unsigned char *p = f->data + e->begin;
    for (size_t i = 0; i < cnt; i++) {
        double v;
        if (!strcmp(e->dtype, "F32")) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                         (uint32_t)p[4 * i + 3] << 24;
            float fl;
            memcpy(&fl, &u, 4);
            v = fl;
        } else if (!strcmp(e->dtype, "F64") || !strcmp(e->dtype, "I64")) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--) u = u << 8 | p[8 * i + (size_t)b];
            if (e->dtype[0] == 'F') memcpy(&v, &u, 8);
            else v = (double)(int64_t)u;
        } else if (!strcmp(e->dtype, "I32")) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                         (uint32_t)p[4 * i + 3] << 24;
            v = (double)(int32_t)u;
        } else if (!strcmp(e->dtype, "U8")) {
            v = p[i];
        } else {
            v = half_to_double((uint16_t)(p[2 * i] | p[2 * i + 1] << 8), e->dtype[0] == 'B');
        }
        if (!isfinite(v)) {
            snprintf(msg, msglen, "%s: tensor \"%s\" holds a non-finite value at index %zu", f->path, name, i);
            return -1;
        }
        out[i] = v;
    }
    return 0;
}

int safetensors_write(const char *path, const st_tensor_t *t, int n, char *msg, size_t msglen)
{
    /* per tensor: its name (< 64), 4 dimensions and 2 offsets of up to 20
     * digits, and the JSON around them */
    size_t hcap = 256 + (size_t)(n > 0 ? n : 0) * 320, hl = 0, off = 0;
    char *hdr = malloc(hcap);
    if (!hdr) return SPIN_ERR_NOMEM;
    int rc = 0;
    hl += (size_t)snprintf(hdr + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"spin-train\"}");
    for (int i = 0; i < n && !rc; i++) {
        size_t cnt = 1, bytes = 0;
        for (int d = 0; d < t[i].nd && !rc; d++) rc = checked_mul(cnt, t[i].shape[d], &cnt) ? SPIN_ERR_RANGE : 0;
        if (!rc && (checked_mul(cnt, 4, &bytes) || checked_add(off, bytes, &bytes))) rc = SPIN_ERR_RANGE;
        if (rc) {
            snprintf(msg, msglen, "cannot write %s: tensor \"%s\" is too large", path, t[i].name);
            break;
        }
        hl += (size_t)snprintf(hdr + hl, hcap - hl, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", t[i].name);
        for (int d = 0; d < t[i].nd; d++) hl += (size_t)snprintf(hdr + hl, hcap - hl, "%s%zu", d ? "," : "", t[i].shape[d]);
        hl += (size_t)snprintf(hdr + hl, hcap - hl, "],\"data_offsets\":[%zu,%zu]}", off, bytes);
        off = bytes;
    }
    if (!rc) hl += (size_t)snprintf(hdr + hl, hcap - hl, "}");
    if (!rc && hl + 8 > hcap) {
        snprintf(msg, msglen, "cannot write %s: header too long", path);
        rc = SPIN_ERR_INTERNAL;
    }
    if (rc) {
        free(hdr);
        return rc;
    }
    while (hl % 8) hdr[hl++] = ' ';
    /* A private temporary file (mode 0600 whatever the umask: exported
     * models and logits are one party's secrets), renamed over path once
     * complete, so a failed write loses nothing. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *fp = fd >= 0 && fchmod(fd, 0600) == 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        snprintf(msg, msglen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(hdr);
        return SPIN_ERR_IO;
    }
    unsigned char le[8];
    for (int b = 0; b < 8; b++) le[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    rc = fwrite(le, 8, 1, fp) == 1 && fwrite(hdr, 1, hl, fp) == hl ? 0 : SPIN_ERR_IO;
    for (int i = 0; i < n && !rc; i++) {
        size_t cnt = 1;
        for (int d = 0; d < t[i].nd; d++) cnt *= t[i].shape[d];   /* checked above */
        for (size_t j = 0; j < cnt && !rc; j++) {
            float v = (float)t[i].data[j];
            uint32_t u;
            memcpy(&u, &v, 4);
            unsigned char b4[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                                   (unsigned char)(u >> 24)};
            if (fwrite(b4, 4, 1, fp) != 1) rc = SPIN_ERR_IO;
        }
    }
    if (!rc) rc = fflush(fp) == 0 && fsync(fileno(fp)) == 0 ? 0 : SPIN_ERR_IO;
    if (fclose(fp) != 0 && !rc) rc = SPIN_ERR_IO;
    if (!rc && rename(tmp, path) != 0) rc = SPIN_ERR_IO;
    if (rc) {
        snprintf(msg, msglen, "writing %s failed: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(hdr);
    return rc;
}
