/*
 * bench_kernel.c - `spin-bench kernel`: compute-plugin kernels against a
 * baseline measured in the same run.
 *
 *   ring_gemm   64-bit ring GEMM (mod 2^64), m = n = k = 1024 by default,
 *               vs the plugin's f64_gemm (OpenBLAS DGEMM on the cpu plugin)
 *               on the same shape; both counted as 2*m*n*k operations.
 *   prg_fill    AES-128-CTR PRG filling 8 MiB, vs OpenSSL EVP aes-128-ctr
 *               on one thread, 16 KiB in place (what `openssl speed -evp
 *               aes-128-ctr` does).
 *               The plugin uses its own threads (OMP_NUM_THREADS for the cpu
 *               plugin): run with OMP_NUM_THREADS=1 for the per-core ratio.
 *   ring_mul    element-wise ring multiply on 2^20 elements (GB/s counts
 *               two 8-byte reads and one write per element).
 *
 * The plugin is whatever SPIN_BACKEND selects; all buffers are plugin
 * memory, so this also measures a device plugin (with stream_sync).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bench.h"

typedef struct kctx {
    const bench_opts_t *o;
    const spin_compute_ops_t *ops;
    void *st;
    const char *plugin;
    int threads;            /* what the plugin will use, as far as we know */
} kctx_t;

static int check(int rc, const char *what)
{
    if (rc != 0)
        fprintf(stderr, "spin-bench kernel: %s failed: %s\n", what, spin_strerror(rc));
    return rc;
}

/* Threads the cpu plugin uses: OMP_NUM_THREADS (first entry) or the cores. */
static int plugin_threads(void)
{
    const char *v = getenv("OMP_NUM_THREADS");
    if (v && *v) {
        int t = atoi(v);
        if (t > 0) return t;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ------------------------------------------------------------------------ */

typedef int (*gemm_fn)(void *state, const spin_gemm_t *g, spin_stream_t *s);

static int time_gemm(const kctx_t *k, gemm_fn fn, const spin_gemm_t *g,
                     double *median)
{
    const int reps = k->o->reps;
    double *t = calloc((size_t)reps, sizeof *t);
    if (!t) return SPIN_ERR_NOMEM;
    int rc = fn(k->st, g, NULL);                       /* warm-up */
    if (!rc) rc = k->ops->stream_sync(k->st, NULL);
    for (int r = 0; !rc && r < reps; r++) {
        double t0 = bench_now();
        rc = fn(k->st, g, NULL);
        if (!rc) rc = k->ops->stream_sync(k->st, NULL);
        t[r] = bench_now() - t0;
    }
    *median = bench_median(t, (size_t)reps);
    free(t);
    return rc;
}

static int bench_gemm(const kctx_t *k, size_t dim)
{
    const spin_compute_ops_t *ops = k->ops;
    const size_t n2 = dim * dim;
    void *a = NULL, *b = NULL, *c = NULL;
    int rc = check(ops->mem_alloc(k->st, n2 * 8, &a), "mem_alloc");
    if (!rc) rc = check(ops->mem_alloc(k->st, n2 * 8, &b), "mem_alloc");
    if (!rc) rc = check(ops->mem_alloc(k->st, n2 * 8, &c), "mem_alloc");
    spin_prg_key_t key;
    memset(&key, 7, sizeof key);
    /* Full 64-bit random operands for the ring. */
    if (!rc) rc = check(ops->prg_fill(k->st, &key, 1, 0, a, n2, NULL), "prg_fill");
    if (!rc) rc = check(ops->prg_fill(k->st, &key, 2, 0, b, n2, NULL), "prg_fill");
    spin_gemm_t g = {
        .m = dim, .n = dim, .k = dim, .batch = 1,
        .a = a, .lda = dim, .b = b, .ldb = dim, .c = c, .ldc = dim,
    };
    double tr = 0, tf = 0;
    if (!rc) rc = check(time_gemm(k, ops->ring_gemm, &g, &tr), "ring_gemm");
    const double flop = 2.0 * (double)dim * (double)dim * (double)dim;
    const double ring_gf = tr > 0 ? flop / tr * 1e-9 : 0;
    double f64_gf = 0;
    if (!rc && ops->f64_gemm) {
        double *h = malloc(n2 * sizeof *h);
        if (!h) rc = SPIN_ERR_NOMEM;
        for (size_t i = 0; !rc && i < n2; i++) h[i] = (double)(i % 251) * 0.01 - 1.0;
        if (!rc) rc = check(ops->copy_h2d(k->st, a, h, n2 * 8, NULL), "copy_h2d");
        if (!rc) rc = check(ops->copy_h2d(k->st, b, h, n2 * 8, NULL), "copy_h2d");
        if (!rc) rc = check(ops->stream_sync(k->st, NULL), "stream_sync");
        free(h);
        if (!rc) rc = check(time_gemm(k, ops->f64_gemm, &g, &tf), "f64_gemm");
        f64_gf = tf > 0 ? flop / tf * 1e-9 : 0;
    }
    if (!rc) {
        const double ratio = f64_gf > 0 ? ring_gf / f64_gf : 0;
        if (k->o->json) {
            printf("{\"bench\":\"kernel\",\"name\":\"ring_gemm\",\"plugin\":\"%s\","
                   "\"threads\":%d,\"m\":%zu,\"n\":%zu,\"k\":%zu,\"reps\":%d,"
                   "\"median_s\":%.6g,\"gflops\":%.3f}\n",
                   k->plugin, k->threads, dim, dim, dim, k->o->reps, tr, ring_gf);
            if (ops->f64_gemm)
                printf("{\"bench\":\"kernel\",\"name\":\"f64_gemm\",\"plugin\":\"%s\","
                       "\"threads\":%d,\"m\":%zu,\"n\":%zu,\"k\":%zu,\"reps\":%d,"
                       "\"median_s\":%.6g,\"gflops\":%.3f}\n",
                       k->plugin, k->threads, dim, dim, dim, k->o->reps, tf, f64_gf);
            printf("{\"bench\":\"kernel\",\"name\":\"gemm_ratio\",\"plugin\":\"%s\","
                   "\"ring_gflops\":%.3f,\"f64_gflops\":%.3f,\"ratio\":%.3f}\n",
                   k->plugin, ring_gf, f64_gf, ratio);
        } else {
            printf("%-28s %10.3f ms %10.2f GFLOP/s\n", "ring_gemm", tr * 1e3, ring_gf);
            if (ops->f64_gemm) {
                printf("%-28s %10.3f ms %10.2f GFLOP/s\n", "f64_gemm (baseline)",
                       tf * 1e3, f64_gf);
                printf("%-28s %10.2f x\n", "ring / f64 GEMM", ratio);
            } else {
                printf("%-28s (plugin has no f64 ops)\n", "f64_gemm (baseline)");
            }
        }
    }
    ops->mem_free(k->st, a);
    ops->mem_free(k->st, b);
    ops->mem_free(k->st, c);
    return rc;
}

/* ------------------------------------------------------------------------ */

/* OpenSSL EVP aes-128-ctr, one thread, 16 KiB blocks encrypted in place. */
static int openssl_baseline(const bench_opts_t *o, size_t total, double *gbps)
{
    const size_t blk = 16384;
    unsigned char *buf = calloc(1, blk);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char key[16], iv[16];
    memset(key, 3, sizeof key);
    memset(iv, 0, sizeof iv);
    int rc = SPIN_OK;
    if (!buf || !ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, key, iv))
        rc = SPIN_ERR_INTERNAL;
    double *t = calloc((size_t)o->reps, sizeof *t);
    if (!t) rc = SPIN_ERR_NOMEM;
    const size_t iters = total / blk ? total / blk : 1;
    for (int r = -1; !rc && r < o->reps; r++) {       /* r = -1: warm-up */
        double t0 = bench_now();
        for (size_t i = 0; i < iters; i++) {
            int outl = 0;
            if (!EVP_EncryptUpdate(ctx, buf, &outl, buf, (int)blk)) {
                rc = SPIN_ERR_INTERNAL;
                break;
            }
        }
        if (r >= 0) t[r] = bench_now() - t0;
    }
    if (!rc) {
        double med = bench_median(t, (size_t)o->reps);
        *gbps = med > 0 ? (double)(iters * blk) / med * 1e-9 : 0;
    } else {
        fprintf(stderr, "spin-bench kernel: OpenSSL EVP aes-128-ctr failed\n");
    }
    free(t);
    free(buf);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

static int bench_prg(const kctx_t *k, size_t words)
{
    const spin_compute_ops_t *ops = k->ops;
    void *out = NULL;
    int rc = check(ops->mem_alloc(k->st, words * 8, &out), "mem_alloc");
    spin_prg_key_t key;
    memset(&key, 5, sizeof key);
    double *t = calloc((size_t)k->o->reps, sizeof *t);
    if (!t) rc = SPIN_ERR_NOMEM;
    for (int r = -1; !rc && r < k->o->reps; r++) {
        double t0 = bench_now();
        rc = check(ops->prg_fill(k->st, &key, 9, (uint64_t)(r + 1) * words, out,
                                 words, NULL), "prg_fill");
        if (!rc) rc = check(ops->stream_sync(k->st, NULL), "stream_sync");
        if (r >= 0) t[r] = bench_now() - t0;
    }
    double base = 0;
    if (!rc) rc = openssl_baseline(k->o, words * 8, &base);
    if (!rc) {
        const double med = bench_median(t, (size_t)k->o->reps);
        const double gbps = med > 0 ? (double)words * 8 / med * 1e-9 : 0;
        const double per = gbps / k->threads;
        const double ratio = base > 0 ? per / base : 0;
        if (k->o->json) {
            printf("{\"bench\":\"kernel\",\"name\":\"prg_fill\",\"plugin\":\"%s\","
                   "\"threads\":%d,\"bytes\":%zu,\"reps\":%d,\"median_s\":%.6g,"
                   "\"gbps\":%.3f,\"gbps_per_thread\":%.3f}\n",
                   k->plugin, k->threads, words * 8, k->o->reps, med, gbps, per);
            printf("{\"bench\":\"kernel\",\"name\":\"openssl_aes128ctr\",\"threads\":1,"
                   "\"block\":16384,\"gbps\":%.3f}\n", base);
            printf("{\"bench\":\"kernel\",\"name\":\"prg_ratio_per_core\",\"plugin\":\"%s\","
                   "\"threads\":%d,\"ratio\":%.3f}\n", k->plugin, k->threads, ratio);
        } else {
            printf("%-28s %10.3f ms %10.2f GB/s  (%d threads, %.2f GB/s each)\n",
                   "prg_fill (AES-128-CTR)", med * 1e3, gbps, k->threads, per);
            printf("%-28s %13s %10.2f GB/s  (1 thread, 16 KiB blocks)\n",
                   "openssl evp aes-128-ctr", "", base);
            printf("%-28s %10.2f x  (run with OMP_NUM_THREADS=1 for an exact "
                   "per-core figure)\n", "prg per core / openssl", ratio);
        }
    }
    free(t);
    ops->mem_free(k->st, out);
    return rc;
}

/* ------------------------------------------------------------------------ */

static int bench_ring_mul(const kctx_t *k, size_t n)
{
    const spin_compute_ops_t *ops = k->ops;
    void *x = NULL, *y = NULL, *z = NULL;
    int rc = check(ops->mem_alloc(k->st, n * 8, &x), "mem_alloc");
    if (!rc) rc = check(ops->mem_alloc(k->st, n * 8, &y), "mem_alloc");
    if (!rc) rc = check(ops->mem_alloc(k->st, n * 8, &z), "mem_alloc");
    spin_prg_key_t key;
    memset(&key, 1, sizeof key);
    if (!rc) rc = check(ops->prg_fill(k->st, &key, 3, 0, x, n, NULL), "prg_fill");
    if (!rc) rc = check(ops->prg_fill(k->st, &key, 4, 0, y, n, NULL), "prg_fill");
    double *t = calloc((size_t)k->o->reps, sizeof *t);
    if (!t) rc = SPIN_ERR_NOMEM;
    for (int r = -1; !rc && r < k->o->reps; r++) {
        double t0 = bench_now();
        rc = check(ops->ring_binary(k->st, SPIN_RING_MUL, z, x, y, n, NULL), "ring_binary");
        if (!rc) rc = check(ops->stream_sync(k->st, NULL), "stream_sync");
        if (r >= 0) t[r] = bench_now() - t0;
    }
    if (!rc) {
        const double med = bench_median(t, (size_t)k->o->reps);
        const double gbps = med > 0 ? 24.0 * (double)n / med * 1e-9 : 0;
        const double gel = med > 0 ? (double)n / med * 1e-9 : 0;
        if (k->o->json)
            printf("{\"bench\":\"kernel\",\"name\":\"ring_mul\",\"plugin\":\"%s\","
                   "\"threads\":%d,\"n\":%zu,\"reps\":%d,\"median_s\":%.6g,"
                   "\"gbps\":%.3f,\"gelems\":%.3f}\n",
                   k->plugin, k->threads, n, k->o->reps, med, gbps, gel);
        else
            printf("%-28s %10.3f ms %10.2f GB/s  (%.2f Gelem/s, n=%zu)\n",
                   "ring_binary MUL", med * 1e3, gbps, gel, n);
    }
    free(t);
    ops->mem_free(k->st, x);
    ops->mem_free(k->st, y);
    ops->mem_free(k->st, z);
    return rc;
}

/* ------------------------------------------------------------------------ */

int bench_kernel_main(const bench_opts_t *o, int argc, char **argv)
{
    size_t dim = o->quick ? 128 : 1024;
    size_t prg_words = o->quick ? (size_t)1 << 17 : (size_t)1 << 20;  /* 8 MiB */
    size_t ew = o->quick ? (size_t)1 << 16 : (size_t)1 << 20;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 16384) {
                fprintf(stderr, "spin-bench kernel: --size takes 1..16384, got \"%s\"\n",
                        argv[i]);
                return 2;
            }
            dim = (size_t)v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: spin-bench [--json] [--reps N] [--quick] kernel [--size N]\n"
                   "  --size N   GEMM dimension m = n = k (default 1024, --quick 128)\n"
                   "The compute plugin is the one SPIN_BACKEND selects; the cpu plugin\n"
                   "uses OMP_NUM_THREADS threads (run with OMP_NUM_THREADS=1 for the\n"
                   "per-core AES ratio).\n");
            return 0;
        } else {
            fprintf(stderr, "spin-bench kernel: unknown argument \"%s\" (see --help)\n",
                    argv[i]);
            return 2;
        }
    }

    spin_runtime_t *rt = NULL;
    int rc = spin_runtime_open(NULL, &rt);
    if (rc) {
        fprintf(stderr, "spin-bench kernel: cannot open the runtime: %s\n",
                spin_strerror(rc));
        return 1;
    }
    spin_backend_t be;
    rc = spin_runtime_compute(rt, &be);
    if (rc) {
        fprintf(stderr, "spin-bench kernel: no compute backend: %s\n", spin_strerror(rc));
        spin_runtime_close(rt);
        return 1;
    }
    /* Threads only mean something for the cpu plugin; a device plugin counts
     * as one "core" for the per-core AES ratio. */
    kctx_t k = { o, be.ops, be.state, be.desc->name,
                 strcmp(be.desc->name, "cpu") == 0 ? plugin_threads() : 1 };
    if (!o->json)
        printf("compute plugin %s (%s), %d threads, %d reps (median)\n",
               k.plugin, be.path, k.threads, o->reps);
    /* GEMMs last: OpenBLAS's threads keep spinning for a while after a
     * DGEMM and would slow whatever runs next on a small machine. */
    rc = bench_prg(&k, prg_words);
    if (!rc) rc = bench_ring_mul(&k, ew);
    if (!rc) rc = bench_gemm(&k, dim);
    spin_runtime_close(rt);
    return rc ? 1 : 0;
}
