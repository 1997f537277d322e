/* launch.c - peers files, party id and count, loopback ports, temporary
 * directories, local endpoints and thread shares (spin/launch.h).  The one
 * place in libspin that opens files, sockets and directories for launching. */
#include "config.h"

#include <spin/launch.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *env(spin_launch_getenv_fn fn, void *ctx, const char *name)
{
    const char *v = fn ? fn(ctx, name) : getenv(name);
    return v && v[0] ? v : NULL;
}

int spin_launch_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !out) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int spin_launch_endpoint_ok(const char *ep, size_t *scheme_len)
{
    if (!ep) return 0;
    size_t n = strspn(ep, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    if (!n || strncmp(ep + n, "://", 3) != 0 || !ep[n + 3]) return 0;
    if (scheme_len) *scheme_len = n;
    return 1;
}

void spin_launch_peers_free(spin_launch_peers_t *p)
{
    if (!p) return;
    if (p->endpoints)
        for (int i = 0; i < p->count; i++) free(p->endpoints[i]);
    free(p->endpoints);
    free(p->lines);
    free(p->path);
    memset(p, 0, sizeof *p);
}

/* Room for SPIN_LAUNCH_MAX_ENDPOINTS endpoints (and the NULL after them). */
static int peers_alloc(spin_launch_peers_t *p, int with_lines)
{
    memset(p, 0, sizeof *p);
    p->endpoints = calloc(SPIN_LAUNCH_MAX_ENDPOINTS + 1, sizeof *p->endpoints);
    if (with_lines) p->lines = calloc(SPIN_LAUNCH_MAX_ENDPOINTS, sizeof *p->lines);
    if (!p->endpoints || (with_lines && !p->lines)) {
        spin_launch_peers_free(p);
        return SPIN_ERR_NOMEM;
    }
    return 0;
}

int spin_launch_peers_read(const char *path, spin_launch_peers_t *out, char *err, size_t errlen)
{
    if (!path || !out) return SPIN_ERR_INVAL;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        seterr(err, errlen, "cannot open peers file %s: %s (it needs one endpoint per line: the "
                            "computing parties', then the dealer's; spin-run -n N writes one)",
               path, strerror(errno));
        return SPIN_ERR_CONFIG;
    }
    spin_launch_peers_t p;
    if (peers_alloc(&p, 1) || !(p.path = strdup(path))) {
        spin_launch_peers_free(&p);
        fclose(f);
        seterr(err, errlen, "out of memory reading peers file %s", path);
        return SPIN_ERR_NOMEM;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
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
        if (!spin_launch_endpoint_ok(s, NULL)) {
            seterr(err, errlen, "peers file %s, line %d: \"%.200s\" is not an endpoint: write "
                                "SCHEME://ADDRESS, e.g. tcp://HOST:PORT or ipc://PATH (SCHEME in "
                                "lower-case letters, digits, '+', '.', '-')", path, lineno, s);
            rc = SPIN_ERR_CONFIG;
            break;
        }
        if (p.count == SPIN_LAUNCH_MAX_ENDPOINTS) {
            seterr(err, errlen, "peers file %s, line %d: more than %d endpoints (at most %d "
                                "computing parties and the dealer): remove the extra lines",
                   path, lineno, SPIN_LAUNCH_MAX_ENDPOINTS, SPIN_LAUNCH_MAX_PARTIES);
            rc = SPIN_ERR_CONFIG;
            break;
        }
        if (!(p.endpoints[p.count] = strdup(s))) {
            seterr(err, errlen, "out of memory reading peers file %s", path);
            rc = SPIN_ERR_NOMEM;
            break;
        }
        p.lines[p.count++] = lineno;
    }
    if (!rc && ferror(f)) {
        seterr(err, errlen, "cannot read peers file %s: %s", path, strerror(errno));
        rc = SPIN_ERR_CONFIG;
    }
    free(line);
    fclose(f);
    if (!rc && p.count < 3) {
        seterr(err, errlen, "peers file %s lists %d endpoint%s: it needs one per computing party "
                            "(at least 2), then the dealer's", path, p.count, p.count == 1 ? "" : "s");
        rc = SPIN_ERR_CONFIG;
    }
    if (rc) {
        spin_launch_peers_free(&p);
        return rc;
    }
    *out = p;
    return 0;
}

int spin_launch_peers_write(const char *path, const char *const *endpoints, int count, char *err,
                            size_t errlen)
{
    if (!path || !endpoints || count < 1) return SPIN_ERR_INVAL;
    for (int i = 0; i < count; i++)
        if (!spin_launch_endpoint_ok(endpoints[i], NULL) || strchr(endpoints[i], '\n') ||
            strchr(endpoints[i], '#')) {
            seterr(err, errlen, "endpoint %d (\"%.200s\") cannot go into a peers file: write "
                                "SCHEME://ADDRESS without '#' or line breaks", i,
                   endpoints[i] ? endpoints[i] : "(null)");
            return SPIN_ERR_INVAL;
        }
    size_t len = strlen(path) + 5;
    char *tmp = malloc(len);
    if (!tmp) return SPIN_ERR_NOMEM;
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL;
    for (int i = 0; ok && i < count; i++) ok = fprintf(f, "%s\n", endpoints[i]) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        seterr(err, errlen, "cannot write peers file %s: %s (is its directory writable?)", path,
               strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : SPIN_ERR_IO;
}

static const char *const party_vars[] = {"SPIN_PARTY", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"};

int spin_launch_party(spin_launch_getenv_fn getenv_fn, void *env_ctx, int nparties, int *party,
                      const char **var, char *err, size_t errlen)
{
    if (!party || nparties < 0) return SPIN_ERR_INVAL;
    *party = -1;
    if (var) *var = NULL;
    for (size_t i = 0; i < sizeof party_vars / sizeof party_vars[0]; i++) {
        const char *s = env(getenv_fn, env_ctx, party_vars[i]);
        if (!s) continue;
        long v;
        long hi = nparties > 0 ? nparties : SPIN_LAUNCH_MAX_PARTIES;
        if (var) *var = party_vars[i];
        if (spin_launch_parse_int(s, 0, hi, &v)) {
            if (nparties > 0)
                seterr(err, errlen, "%s=\"%.64s\" is not a party id (0..%d; %d is the dealer) for %d "
                                    "computing parties: set it to this process's id, or unset it",
                       party_vars[i], s, nparties - 1, nparties, nparties);
            else
                seterr(err, errlen, "%s=\"%.64s\" is not a party id (0..%d): set it to this "
                                    "process's id, or unset it", party_vars[i], s, SPIN_LAUNCH_MAX_PARTIES);
            return SPIN_ERR_CONFIG;
        }
        *party = (int)v;
        return 0;
    }
    seterr(err, errlen, "no party id: set SPIN_PARTY, or start the process under srun or mpirun "
                        "(they set SLURM_PROCID, OMPI_COMM_WORLD_RANK or PMI_RANK)");
    return SPIN_ERR_CONFIG;
}

int spin_launch_nparties(spin_launch_getenv_fn getenv_fn, void *env_ctx, int given,
                         const spin_launch_peers_t *peers, int *nparties, char *err, size_t errlen)
{
    if (!nparties) return SPIN_ERR_INVAL;
    const char *from = "the caller";
    long n = given;
    if (given <= 0) {
        const char *s = env(getenv_fn, env_ctx, "SPIN_NPARTIES");
        if (s) {
            if (spin_launch_parse_int(s, 2, SPIN_LAUNCH_MAX_PARTIES, &n)) {
                seterr(err, errlen, "SPIN_NPARTIES=\"%.64s\" is not a party count (2..%d): set it to "
                                    "the number of computing parties, or unset it to count the peers "
                                    "file's endpoints", s, SPIN_LAUNCH_MAX_PARTIES);
                return SPIN_ERR_CONFIG;
            }
            from = "SPIN_NPARTIES";
        } else if (peers) {
            n = peers->count - 1;
            from = NULL;
        } else {
            seterr(err, errlen, "no party count: set SPIN_NPARTIES, or give a peers file "
                                "(SPIN_PEERS_FILE; spin-run sets both)");
            return SPIN_ERR_CONFIG;
        }
    }
    if (n < 2 || n > SPIN_LAUNCH_MAX_PARTIES) {
        seterr(err, errlen, "%ld computing parties%s%s: Spin needs 2..%d plus the dealer", n,
               from ? " from " : "", from ? from : "", SPIN_LAUNCH_MAX_PARTIES);
        return SPIN_ERR_CONFIG;
    }
    if (peers && peers->count != n + 1) {
        seterr(err, errlen, "peers file %s lists %d endpoints, but %s says %ld computing parties, "
                            "which need %ld (the dealer's last): make them agree",
               peers->path ? peers->path : "(given)", peers->count, from, n, n + 1);
        return SPIN_ERR_CONFIG;
    }
    *nparties = (int)n;
    return 0;
}

int spin_launch_loopback_ports(int n, int *ports, char *err, size_t errlen)
{
    int fds[SPIN_LAUNCH_MAX_ENDPOINTS];
    int rc = 0, i;
    if (n < 1 || n > SPIN_LAUNCH_MAX_ENDPOINTS || !ports) return SPIN_ERR_INVAL;
    for (i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &len) != 0) {
            seterr(err, errlen, "cannot find %d free TCP ports on 127.0.0.1 (got %d): %s: is the "
                                "loopback interface up?", n, i, strerror(errno));
            if (fds[i] >= 0) close(fds[i]);
            rc = SPIN_ERR_IO;
            break;
        }
        ports[i] = ntohs(a.sin_port);
    }
    while (i-- > 0) close(fds[i]);
    return rc;
}

int spin_launch_tmpdir(spin_launch_getenv_fn getenv_fn, void *env_ctx, const char *prefix, char *dir,
                       size_t size, char *err, size_t errlen)
{
    if (!prefix || !dir || !size || strchr(prefix, '/')) return SPIN_ERR_INVAL;
    dir[0] = '\0';
    /* ipc:// paths must fit in sun_path: /tmp for a long or relative TMPDIR. */
    const char *tmp = env(getenv_fn, env_ctx, "TMPDIR");
    if (!tmp || tmp[0] != '/' || strlen(tmp) > 64) tmp = "/tmp";
    int len = snprintf(dir, size, "%s/%s-XXXXXX", tmp, prefix);
    if (len < 0 || (size_t)len >= size) {
        dir[0] = '\0';
        return SPIN_ERR_INVAL;
    }
    if (!mkdtemp(dir)) {
        seterr(err, errlen, "cannot create a temporary directory in %s: %s (set TMPDIR to a "
                            "writable directory)", tmp, strerror(errno));
        dir[0] = '\0';
        return SPIN_ERR_IO;
    }
    if (chmod(dir, 0700) != 0) {   /* whatever the umask */
        seterr(err, errlen, "cannot make %s private (mode 0700): %s", dir, strerror(errno));
        rmdir(dir);
        dir[0] = '\0';
        return SPIN_ERR_IO;
    }
    return 0;
}

int spin_launch_tmpdir_remove(const char *dir, char *err, size_t errlen)
{
    if (!dir || !dir[0]) return 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        size_t dl = strlen(dir);
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            size_t len = dl + strlen(e->d_name) + 2;
            char *path = malloc(len);
            if (!path) break;
            snprintf(path, len, "%s/%s", dir, e->d_name);
            unlink(path);
            free(path);
        }
        closedir(d);
    }
    if (rmdir(dir) != 0 && errno != ENOENT) {
        seterr(err, errlen, "cannot remove %s: %s (remove it by hand)", dir, strerror(errno));
        return SPIN_ERR_IO;
    }
    return 0;
}

int spin_launch_local_endpoints(const char *scheme, int nparties, const char *dir,
                                spin_launch_peers_t *out, char *err, size_t errlen)
{
    if (!out) return SPIN_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (nparties < 2 || nparties > SPIN_LAUNCH_MAX_PARTIES) {
        seterr(err, errlen, "%d computing parties: Spin needs 2..%d plus the dealer", nparties,
               SPIN_LAUNCH_MAX_PARTIES);
        return SPIN_ERR_INVAL;
    }
    int tcp = scheme && strcmp(scheme, "tcp") == 0;
    if (!tcp && scheme && strcmp(scheme, "ipc") != 0) {
        seterr(err, errlen, "no local endpoints for scheme \"%.32s\": use \"ipc\" or \"tcp\"", scheme);
        return SPIN_ERR_INVAL;
    }
    if (!tcp && (!dir || !dir[0])) return SPIN_ERR_INVAL;
    int ports[SPIN_LAUNCH_MAX_ENDPOINTS];
    int rc = tcp ? spin_launch_loopback_ports(nparties + 1, ports, err, errlen) : 0;
    if (rc) return rc;
    spin_launch_peers_t p;
    if (peers_alloc(&p, 0)) return SPIN_ERR_NOMEM;
    const size_t sun = sizeof(((struct sockaddr_un *)0)->sun_path);
    for (int i = 0; i <= nparties; i++) {
        char ep[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
        if (tcp) {
            snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", ports[i]);
        } else {
            char name[16];
            if (i < nparties) snprintf(name, sizeof name, "p%d", i);
            else snprintf(name, sizeof name, "dealer");
            if (strlen(dir) + 1 + strlen(name) >= sun) {
                seterr(err, errlen, "ipc:// socket paths in %s are too long (at most %zu characters): "
                                    "set TMPDIR to a shorter directory", dir, sun - 1);
                spin_launch_peers_free(&p);
                return SPIN_ERR_CONFIG;
            }
            snprintf(ep, sizeof ep, "ipc://%s/%s", dir, name);
        }
        if (!(p.endpoints[i] = strdup(ep))) {
            spin_launch_peers_free(&p);
            return SPIN_ERR_NOMEM;
        }
        p.count = i + 1;
    }
    *out = p;
    return 0;
}

int spin_launch_cores(void)
{
#if defined(CPU_COUNT_S) && defined(CPU_ALLOC)
    /* The mask may be wider than a cpu_set_t on hosts with many CPUs. */
    for (int ncpu = CPU_SETSIZE; ncpu <= (1 << 20); ncpu *= 4) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        if (!set) break;
        size_t size = CPU_ALLOC_SIZE(ncpu);
        CPU_ZERO_S(size, set);
        int rc = sched_getaffinity(0, size, set);
        int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        int again = rc != 0 && errno == EINVAL;
        CPU_FREE(set);
        if (n > 0) return n;
        if (!again) break;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

int spin_launch_thread_share(int procs_on_host, int cores, spin_launch_share_t *out, char *err,
                             size_t errlen)
{
    if (!out) return SPIN_ERR_INVAL;
    out->threads = 1;
    out->passive = 1;
    if (procs_on_host < 1 || procs_on_host > SPIN_LAUNCH_MAX_LOCAL_PROCS || cores < 1) {
        seterr(err, errlen, "cannot share %d cores among %d processes: both must be at least 1 "
                            "(and at most %d processes)", cores, procs_on_host,
               SPIN_LAUNCH_MAX_LOCAL_PROCS);
        return SPIN_ERR_INVAL;
    }
    int threads = cores / procs_on_host;
    if (threads < 1) threads = 1;
    out->threads = threads;
    out->passive = procs_on_host > 1 || (long long)threads * procs_on_host > cores;
    return 0;
}

int spin_launch_local_procs(spin_launch_getenv_fn getenv_fn, void *env_ctx, int *procs, char *err,
                            size_t errlen)
{
    if (!procs) return SPIN_ERR_INVAL;
    *procs = 1;
    const char *s = env(getenv_fn, env_ctx, "SPIN_LOCAL_PROCS");
    if (!s) return 0;
    long v;
    if (spin_launch_parse_int(s, 1, SPIN_LAUNCH_MAX_LOCAL_PROCS, &v)) {
        seterr(err, errlen, "SPIN_LOCAL_PROCS=\"%.64s\" is not a process count (1..%d): set it to the "
                            "number of Spin processes on this host (parties and dealers), or unset it",
               s, SPIN_LAUNCH_MAX_LOCAL_PROCS);
        return SPIN_ERR_CONFIG;
    }
    *procs = (int)v;
    return 0;
}
