/* run_peers.c - spin-run: peers files, endpoints, temporary directory, the
 * dealer role and program look-up. */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spin/mpc.h>

#include "run.h"

void run_free_strv(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

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

static int valid_endpoint(const char *s)
{
    if (!strncmp(s, "tcp://", 6)) return valid_host_port(s + 6);
    if (!strncmp(s, "rdma://", 7)) return valid_host_port(s + 7);
    if (!strncmp(s, "ipc://", 6)) {
        size_t len = strlen(s + 6);
        return len > 0 && len < sizeof(((struct sockaddr_un *)0)->sun_path);
    }
    return 0;
}

int run_read_peers(const char *path, char ***eps, int *count)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "spin-run: cannot open peers file %s: %s\n", path, strerror(errno));
        return -1;
    }
    const int max = RUN_MAX_PARTIES + 1;
    char **v = calloc((size_t)max + 1, sizeof *v);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, lineno = 0, rc = 0;
    if (!v) {
        fprintf(stderr, "spin-run: out of memory\n");
        fclose(f);
        return -1;
    }
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        char *s = line;
        char *hash = strchr(s, '#');
        if (hash) *hash = '\0';
        while (*s == ' ' || *s == '\t') s++;
        size_t len = strlen(s);
        while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = '\0';
        if (!len) continue;
        if (!valid_endpoint(s)) {
            fprintf(stderr,
                    "spin-run: peers file %s, line %d: \"%s\" is not an endpoint "
                    "(expected tcp://HOST:PORT, ipc://PATH or rdma://HOST:PORT)\n",
                    path, lineno, s);
            rc = -1;
            break;
        }
        if (n == max) {
            fprintf(stderr, "spin-run: peers file %s, line %d: more than %d endpoints "
                            "(at most %d parties and the dealer)\n",
                    path, lineno, max, RUN_MAX_PARTIES);
            rc = -1;
            break;
        }
        v[n] = strdup(s);
        if (!v[n]) {
            fprintf(stderr, "spin-run: out of memory\n");
            rc = -1;
            break;
        }
        n++;
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "spin-run: cannot read peers file %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    if (!rc && n < 3) {
        fprintf(stderr, "spin-run: peers file %s lists %d endpoint%s: it needs one per computing "
                        "party (at least 2), then the dealer's\n",
                path, n, n == 1 ? "" : "s");
        rc = -1;
    }
    if (rc) {
        run_free_strv(v);
        return -1;
    }
    *eps = v;
    *count = n;
    return 0;
}

int run_make_tmpdir(char *dir, size_t size)
{
    /* ipc:// paths must fit in sun_path: fall back to /tmp for a long TMPDIR. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/' || strlen(tmp) > 64) tmp = "/tmp";
    int len = snprintf(dir, size, "%s/spin-run-XXXXXX", tmp);
    if (len < 0 || (size_t)len >= size) return -1;
    if (!mkdtemp(dir)) {
        fprintf(stderr, "spin-run: cannot create a temporary directory in %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

void run_remove_tmpdir(const char *dir)
{
    if (!dir || !dir[0]) return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[PATH_MAX];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            int len = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (len > 0 && (size_t)len < sizeof path) unlink(path);
        }
        closedir(d);
    }
    if (rmdir(dir) != 0 && errno != ENOENT)
        fprintf(stderr, "spin-run: warning: cannot remove %s: %s\n", dir, strerror(errno));
}

/* n distinct free ports on 127.0.0.1: all sockets stay bound until every
 * port is known, so the kernel cannot hand out one port twice. */

int run_make_peers(const char *dir, int n, int tcp, char *peers_path, size_t size)
{
    int ports[RUN_MAX_PARTIES + 1];
    if (tcp && spin_loopback_ports(n + 1, ports)) {
        fprintf(stderr, "spin-run: cannot find %d free ports on 127.0.0.1\n", n + 1);
        return -1;
    }
    int len = snprintf(peers_path, size, "%s/peers", dir);
    if (len < 0 || (size_t)len >= size) return -1;
    FILE *f = fopen(peers_path, "w");
    if (!f) {
        fprintf(stderr, "spin-run: cannot write %s: %s\n", peers_path, strerror(errno));
        return -1;
    }
    for (int i = 0; i <= n; i++) {
        if (tcp) fprintf(f, "tcp://127.0.0.1:%d\n", ports[i]);
        else if (i < n) fprintf(f, "ipc://%s/p%d\n", dir, i);
        else fprintf(f, "ipc://%s/dealer\n", dir);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "spin-run: cannot write %s: %s\n", peers_path, strerror(errno));
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
