/* fuzz_common.h - what the libFuzzer harnesses of tests/fuzz/ share
 * (README.md): the check macro, an in-memory file for readers that take a
 * path, a private temporary directory, a logger that formats every line
 * and drops it, and little-endian helpers. */
#ifndef SPIN_FUZZ_COMMON_H
#define SPIN_FUZZ_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spin/log.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_UNUSED __attribute__((unused))

/* An invariant the harness checks beyond "no crash": on failure print what
 * and why, then abort(), which libFuzzer reports as a crash (with the
 * stack, and the input saved as crash-*). */
#define FUZZ_CHECK(cond, ...)                                                             \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "==fuzz== check failed at %s:%d: %s\n==fuzz== ", __FILE__,    \
                    __LINE__, #cond);                                                     \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* SPIN_FUZZ_LOG set: the logger prints, and FUZZ_NOTE says what the
 * harness saw (for a reproducer). */
static FUZZ_UNUSED int fuzz_verbose(void)
{
    static int v = -1;
    if (v < 0) v = getenv("SPIN_FUZZ_LOG") != NULL;
    return v;
}
#define FUZZ_NOTE(...)                                                                    \
    do {                                                                                  \
        if (fuzz_verbose()) {                                                             \
            fprintf(stderr, "note: ");                                                    \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* The input as a file the readers can open by name: an in-memory file
 * (memfd), named /proc/self/fd/N, rewritten for every input.  Opening the
 * name gives a new file description (offset 0) every time. */
static FUZZ_UNUSED const char *fuzz_as_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("spin-fuzz-input", MFD_CLOEXEC);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    return path;
}

/* A private directory for this process (under $TMPDIR, else /tmp), made
 * once; the harness writes its files there.  Removed at exit when empty. */
static char fuzz_dir_path[4096];
static void fuzz_dir_cleanup(void) { rmdir(fuzz_dir_path); }
static FUZZ_UNUSED const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/spin-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_dir_cleanup);
    }
    return fuzz_dir_path;
}

/* Write data to path (whole, truncating). */
static FUZZ_UNUSED void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Every line is formatted (at debug level) and dropped; SPIN_FUZZ_LOG=1
 * prints them, for a reproducer. */
static void fuzz_sink(void *user, spin_log_level_t level, const char *msg)
{
    (void)user;
    (void)level;
    if (fuzz_verbose()) fprintf(stderr, "log: %s\n", msg);
}
static const spin_logger_t fuzz_logger = {SPIN_LOG_DEBUG, "fuzz", fuzz_sink, NULL};

/* Reading the input as a stream of fields; past its end, zeros. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n, at;
} fuzz_in_t;

static FUZZ_UNUSED uint8_t fuzz_u8(fuzz_in_t *in) { return in->at < in->n ? in->p[in->at++] : 0; }
static FUZZ_UNUSED uint16_t fuzz_u16(fuzz_in_t *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(in) << 8);
}
static FUZZ_UNUSED uint64_t fuzz_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

#endif
