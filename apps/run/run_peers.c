/* run_peers.c - spin-run: peers files and endpoints (over spin/launch.h),
 * the environment of the processes, the dealer role and program look-up. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spin/mpc.h>

#include "run.h"

/* HOST:PORT with a non-empty host (a name, an IPv4 address or [IPv6]) and a
 * decimal port 1..65535. */
static int valid_host_port(const char *s)
{
    const char *colon;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':') return 0;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s) return 0;
        for (const char *p = s; p < colon; p++)
            if (*p == ':' || *p == '/' || *p == ' ' || *p == '\t') return 0;
    }
    const char *port = colon + 1;
    if (!*port || strlen(port) > 5) return 0;
    long v = 0;
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535;
}

/* The address forms spin-run knows; NULL if ep is fine (or of a scheme
 * only a transport plugin knows), else the form it should have. */
static const char *bad_address(const char *ep)
{
    if (!strncmp(ep, "tcp://", 6)) return valid_host_port(ep + 6) ? NULL : "tcp://HOST:PORT";
    if (!strncmp(ep, "rdma://", 7)) return valid_host_port(ep + 7) ? NULL : "rdma://HOST:PORT";
    if (!strncmp(ep, "ipc://", 6))
        return strlen(ep + 6) < sizeof(((struct sockaddr_un *)0)->sun_path) ? NULL
               : "ipc://PATH, with a PATH short enough for a socket: under 108 characters";
    return NULL;
}

int run_read_peers(const char *path, spin_launch_peers_t *peers)
{
    char err[1024];
    if (spin_launch_peers_read(path, peers, err, sizeof err)) {
        fprintf(stderr, "spin-run: %s\n", err);
        return -1;
    }
    for (int i = 0; i < peers->count; i++) {
        const char *want = bad_address(peers->endpoints[i]);
        if (!want) continue;
        fprintf(stderr, "spin-run: peers file %s, line %d: \"%s\" is not an endpoint (expected %s)\n",
                path, peers->lines[i], peers->endpoints[i], want);
        spin_launch_peers_free(peers);
        return -1;
    }
    return 0;
}

void run_remove_tmpdir(const char *dir)
{
    char err[600];
    if (spin_launch_tmpdir_remove(dir, err, sizeof err)) fprintf(stderr, "spin-run: warning: %s\n", err);
}

int run_make_peers(int n, int tcp, char *dir, size_t dsize, char *peers_path, size_t size)
{
    char err[1024];
    spin_launch_peers_t eps;
    dir[0] = '\0';
    int rc = spin_launch_tmpdir(NULL, NULL, "spin-run", dir, dsize, err, sizeof err);
    if (!rc) rc = spin_launch_local_endpoints(tcp ? "tcp" : "ipc", n, dir, &eps, err, sizeof err);
    if (rc) {
        fprintf(stderr, "spin-run: %s\n", err);
        run_remove_tmpdir(dir);
        return -1;
    }
    int len = snprintf(peers_path, size, "%s/peers", dir);
    rc = len < 0 || (size_t)len >= size ? SPIN_ERR_INVAL
         : spin_launch_peers_write(peers_path, (const char *const *)eps.endpoints, eps.count, err, sizeof err);
    spin_launch_peers_free(&eps);
    if (rc) {
        fprintf(stderr, "spin-run: %s\n", rc == SPIN_ERR_INVAL ? "temporary directory path too long" : err);
        run_remove_tmpdir(dir);
        return -1;
    }
    return 0;
}

/* Large messages: keep glibc from returning receive buffers to the kernel
 * after every message and refaulting them (see plugins/tcp/README.md). */
#define SPIN_MALLOC_TUNABLES \
    "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432"

void run_party_env(long id, int n, const char *peers)
{
    char num[24];
    snprintf(num, sizeof num, "%ld", id);
    setenv("SPIN_PARTY", num, 1);
    snprintf(num, sizeof num, "%d", n);
    setenv("SPIN_NPARTIES", num, 1);
    setenv("SPIN_PEERS_FILE", peers, 1);
    setenv("GLIBC_TUNABLES", SPIN_MALLOC_TUNABLES, 0);   /* never override the user's */
}

/* The variables of the thread share, in the order of the log line; each
 * is left alone where the user set it (an empty value counts as unset). */
static const char *const thread_vars[] = {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS"};
#define NTHREAD_VARS ((int)(sizeof thread_vars / sizeof thread_vars[0]))

static void append(char *buf, size_t size, const char *name, const char *value)
{
    size_t len = strlen(buf);
    if (len < size) snprintf(buf + len, size - len, "%s%s=%.32s", len ? " " : "", name, value);
}

void run_thread_env(int procs)
{
    int cores = spin_launch_cores();
    spin_launch_share_t sh;
    char err[256];
    if (spin_launch_thread_share(procs, cores, &sh, err, sizeof err)) {
        fprintf(stderr, "spin-run: warning: %s; thread counts left to OpenMP and OpenBLAS\n", err);
        return;
    }
    char threads[16];
    snprintf(threads, sizeof threads, "%d", sh.threads);
    const char *want[NTHREAD_VARS] = {threads, sh.passive ? "passive" : NULL, threads};
    char set[160] = "", kept[160] = "";
    for (int i = 0; i < NTHREAD_VARS; i++) {
        if (!want[i]) continue;
        const char *user = getenv(thread_vars[i]);
        if (user && user[0]) {
            append(kept, sizeof kept, thread_vars[i], user);
            continue;
        }
        setenv(thread_vars[i], want[i], 1);
        append(set, sizeof set, thread_vars[i], want[i]);
    }
    if (procs > 1 && set[0])
        fprintf(stderr, "spin-run: %d processes on %d core%s: %s for each%s%s\n", procs, cores,
                cores == 1 ? "" : "s", set, kept[0] ? "; yours kept: " : " (set them to override)", kept);
}

int run_dealer(const char *peers_file, int n)
{
    spin_ctx_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.party = n;
    o.nparties = n;
    o.peers_file = peers_file;
    /* The dealer runs in this (forked) process: the same malloc policy as
     * run_party_env() gives the parties, unless the user tuned glibc. */
    if (!getenv("GLIBC_TUNABLES")) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
    }
    spin_ctx_t *ctx = NULL;
    int rc = spin_ctx_open(&o, &ctx);
    if (rc) {
        fprintf(stderr, "spin-run: dealer: cannot join the computation: %s\n", spin_strerror(rc));
        return 1;
    }
    rc = spin_dealer_serve(ctx);
    if (rc) fprintf(stderr, "spin-run: dealer: %s\n", spin_strerror(rc));
    spin_ctx_close(ctx);
    return rc ? 1 : 0;
}

static int executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return errno;
    if (S_ISDIR(st.st_mode)) return EISDIR;
    if (access(path, X_OK) != 0) return errno;
    return 0;
}

int run_find_program(const char *prog)
{
    if (!prog[0]) return ENOENT;
    if (strchr(prog, '/')) return executable(prog);
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/bin:/usr/bin";
    int err = ENOENT;
    char buf[PATH_MAX];
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        int len = dlen ? snprintf(buf, sizeof buf, "%.*s/%s", (int)dlen, p, prog)
                       : snprintf(buf, sizeof buf, "%s", prog);
        if (len > 0 && (size_t)len < sizeof buf) {
            int e = executable(buf);
            if (!e) return 0;
            if (e == EACCES) err = EACCES; /* like execvp: found, not executable */
        }
        if (!end) break;
        p = end;
    }
    return err;
}
