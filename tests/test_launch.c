/* test_launch.c - the launch layer (spin/launch.h): peers files (comments,
 * blanks, CRLF, malformed lines, too many or too few lines, a missing
 * file, writing), the party id and count through an injected getenv
 * (each variable, precedence, malformed values), free loopback ports,
 * private temporary directories, the endpoints of a local run and the
 * thread share of each process on a host (the rule, SPIN_LOCAL_PROCS). */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spin/launch.h>
#include "testutil.h"

/* ---- an injected environment -------------------------------------------- */

typedef struct fake_env {
    const char *name[8], *value[8];
    int n;
} fake_env_t;

static const char *fake_getenv(void *ctx, const char *name)
{
    fake_env_t *e = ctx;
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->name[i], name) == 0) return e->value[i];
    return NULL;
}

static void fake_set(fake_env_t *e, const char *name, const char *value)
{
    e->name[e->n] = name;
    e->value[e->n] = value;
    e->n++;
}

/* ---- peers files -------------------------------------------------------- */

static char *g_dir;

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void setup_dir(void) { g_dir = tu_tmpdir("launch"); }
static void teardown_dir(void)
{
    tu_rmdir(g_dir);
    free(g_dir);
    g_dir = NULL;
}

START_TEST(peers_comments_blanks_crlf)
{
    const char *p = write_file("ok", "# parties 0..2, then the dealer\r\n"
                                     "tcp://10.0.0.1:5000\r\n"
                                     "\r\n"
                                     "   \t\n"
                                     "  ipc:///tmp/x  # comment\n"
                                     "\ttcp://[::1]:5002\t\r\n"
                                     "x-new+1.0://anything goes here\n"
                                     "# trailing comment, no newline at the end");
    spin_launch_peers_t pe;
    char err[512] = "";
    ck_assert_int_eq(spin_launch_peers_read(p, &pe, err, sizeof err), 0);
    ck_assert_int_eq(pe.count, 4);
    ck_assert_str_eq(pe.endpoints[0], "tcp://10.0.0.1:5000");
    ck_assert_str_eq(pe.endpoints[1], "ipc:///tmp/x");
    ck_assert_str_eq(pe.endpoints[2], "tcp://[::1]:5002");
    /* A scheme no bundled transport takes: the transports decide, not here. */
    ck_assert_str_eq(pe.endpoints[3], "x-new+1.0://anything goes here");
    ck_assert_ptr_null(pe.endpoints[4]);
    ck_assert_int_eq(pe.lines[0], 2);
    ck_assert_int_eq(pe.lines[1], 5);
    ck_assert_int_eq(pe.lines[2], 6);
    ck_assert_int_eq(pe.lines[3], 7);
    ck_assert_str_eq(pe.path, p);
    spin_launch_peers_free(&pe);
    ck_assert_ptr_null(pe.endpoints);
    spin_launch_peers_free(&pe);   /* twice is fine */
}
END_TEST

/* Each malformed line is named with its file and line. */
START_TEST(peers_malformed_lines)
{
    static const struct { const char *text; int line; } bad[] = {
        {"tcp://a:1\ntcp://b:2\nnot an endpoint\ntcp://c:3\n", 3},
        {"# x\n\ntcp://a:1\nudp:/b:2\ntcp://c:3\n", 4},
        {"tcp://a:1\nTCP://b:2\ntcp://c:3\n", 2},          /* scheme in lower case */
        {"tcp://a:1\n://b:2\ntcp://c:3\n", 2},             /* no scheme */
        {"tcp://a:1\nipc://\ntcp://c:3\n", 2},             /* nothing after :// */
        {"tcp://a:1\r\ntc p://b\r\ntcp://c:3\r\n", 2},
        {"tcp://a:1\ntcp://b:2\ntcp://c:3\nhost:4\n", 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = write_file("bad", bad[i].text);
        spin_launch_peers_t pe;
        char err[512] = "", want[600];
        ck_assert_int_eq(spin_launch_peers_read(p, &pe, err, sizeof err), SPIN_ERR_CONFIG);
        ck_assert_ptr_null(pe.endpoints);
        snprintf(want, sizeof want, "peers file %s, line %d: ", p, bad[i].line);
        ck_assert_msg(strstr(err, want) != NULL, "case %zu: \"%s\" does not say \"%s\"", i, err, want);
        ck_assert_msg(strstr(err, "SCHEME://") != NULL, "case %zu: no remedy in \"%s\"", i, err);
    }
}
END_TEST

START_TEST(peers_too_many_too_few_missing)
{
    /* 64 endpoints (63 parties and the dealer) are fine, 65 are not. */
    char text[65 * 32] = "";
    for (int i = 0; i < 65; i++) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof text - l, "tcp://10.0.0.%d:7000\n", i + 1);
    }
    const char *p = write_file("many", text);
    spin_launch_peers_t pe;
    char err[512] = "", want[600];
    ck_assert_int_eq(spin_launch_peers_read(p, &pe, err, sizeof err), SPIN_ERR_CONFIG);
    snprintf(want, sizeof want, "peers file %s, line 65: more than 64 endpoints", p);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    *strrchr(text, 't') = '#';   /* comment the 65th out */
    p = write_file("many", text);
    ck_assert_int_eq(spin_launch_peers_read(p, &pe, err, sizeof err), 0);
    ck_assert_int_eq(pe.count, 64);
    spin_launch_peers_free(&pe);

    p = write_file("few", "# only two\ntcp://a:1\ntcp://b:2\n");
    ck_assert_int_eq(spin_launch_peers_read(p, &pe, err, sizeof err), SPIN_ERR_CONFIG);
    snprintf(want, sizeof want, "peers file %s lists 2 endpoints", p);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    p = write_file("empty", "\n# nothing\n");
    ck_assert_int_eq(spin_launch_peers_read(p, &pe, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, "lists 0 endpoints") != NULL, "%s", err);

    snprintf(want, sizeof want, "%s/no-such-file", g_dir);
    ck_assert_int_eq(spin_launch_peers_read(want, &pe, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, want) != NULL && strstr(err, "No such file") != NULL, "%s", err);
    /* A NULL error buffer is fine. */
    ck_assert_int_eq(spin_launch_peers_read(want, &pe, NULL, 0), SPIN_ERR_CONFIG);
}
END_TEST

START_TEST(peers_write_read_back)
{
    const char *eps[] = {"tcp://127.0.0.1:1", "ipc:///tmp/p1", "rdma://h:3"};
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/written", g_dir);
    ck_assert_int_eq(spin_launch_peers_write(path, eps, 3, err, sizeof err), 0);
    spin_launch_peers_t pe;
    ck_assert_int_eq(spin_launch_peers_read(path, &pe, err, sizeof err), 0);
    ck_assert_int_eq(pe.count, 3);
    for (int i = 0; i < 3; i++) ck_assert_str_eq(pe.endpoints[i], eps[i]);
    spin_launch_peers_free(&pe);
    /* No temporary file left next to it. */
    snprintf(path, sizeof path, "%s/written.tmp", g_dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    /* Something that would not read back is refused. */
    const char *bad[] = {"tcp://a:1", "a # b://c", "tcp://c:3"};
    snprintf(path, sizeof path, "%s/bad-written", g_dir);
    ck_assert_int_eq(spin_launch_peers_write(path, bad, 3, err, sizeof err), SPIN_ERR_INVAL);
    ck_assert_msg(strstr(err, "endpoint 1") != NULL, "%s", err);
    /* An unwritable place names the file. */
    snprintf(path, sizeof path, "%s/no-such-dir/peers", g_dir);
    ck_assert_int_eq(spin_launch_peers_write(path, eps, 3, err, sizeof err), SPIN_ERR_IO);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

START_TEST(endpoint_syntax)
{
    size_t len = 0;
    ck_assert_int_eq(spin_launch_endpoint_ok("tcp://h:1", &len), 1);
    ck_assert_int_eq((int)len, 3);
    ck_assert_int_eq(spin_launch_endpoint_ok("a.b+c-9://x", &len), 1);
    ck_assert_int_eq((int)len, 7);
    ck_assert_int_eq(spin_launch_endpoint_ok("tcp://", NULL), 0);
    ck_assert_int_eq(spin_launch_endpoint_ok("://x", NULL), 0);
    ck_assert_int_eq(spin_launch_endpoint_ok("Tcp://x", NULL), 0);
    ck_assert_int_eq(spin_launch_endpoint_ok("tcp:/x", NULL), 0);
    ck_assert_int_eq(spin_launch_endpoint_ok("", NULL), 0);
    ck_assert_int_eq(spin_launch_endpoint_ok(NULL, NULL), 0);
}
END_TEST

/* ---- party id and count ------------------------------------------------- */

static const char *const vars[] = {"SPIN_PARTY", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"};

START_TEST(party_each_variable)
{
    for (int i = 0; i < 4; i++) {
        fake_env_t e = {{0}, {0}, 0};
        fake_set(&e, vars[i], "2");
        int party = -5;
        const char *var = NULL;
        char err[512] = "";
        ck_assert_int_eq(spin_launch_party(fake_getenv, &e, 3, &party, &var, err, sizeof err), 0);
        ck_assert_int_eq(party, 2);
        ck_assert_str_eq(var, vars[i]);
        /* 3 of 3 computing parties is the dealer. */
        e.value[0] = "3";
        ck_assert_int_eq(spin_launch_party(fake_getenv, &e, 3, &party, &var, err, sizeof err), 0);
        ck_assert_int_eq(party, 3);
    }
}
END_TEST

START_TEST(party_precedence)
{
    /* Every earlier variable wins over every later one. */
    for (int hi = 0; hi < 4; hi++)
        for (int lo = hi + 1; lo < 4; lo++) {
            fake_env_t e = {{0}, {0}, 0};
            fake_set(&e, vars[lo], "1");
            fake_set(&e, vars[hi], "0");
            int party;
            const char *var;
            ck_assert_int_eq(spin_launch_party(fake_getenv, &e, 2, &party, &var, NULL, 0), 0);
            ck_assert_msg(party == 0 && strcmp(var, vars[hi]) == 0, "%s over %s: got %d from %s", vars[hi],
                          vars[lo], party, var);
        }
    /* An empty value counts as unset. */
    fake_env_t e = {{0}, {0}, 0};
    fake_set(&e, "SPIN_PARTY", "");
    fake_set(&e, "PMI_RANK", "1");
    int party;
    const char *var;
    ck_assert_int_eq(spin_launch_party(fake_getenv, &e, 2, &party, &var, NULL, 0), 0);
    ck_assert_int_eq(party, 1);
    ck_assert_str_eq(var, "PMI_RANK");
}
END_TEST

START_TEST(party_malformed_and_missing)
{
    static const char *const bad[] = {"x", "-1", "4", "1 ", "1.0", "0x1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_env_t e = {{0}, {0}, 0};
        fake_set(&e, "SLURM_PROCID", bad[i]);
        fake_set(&e, "PMI_RANK", "1");   /* not consulted: the first set one counts */
        int party = 7;
        const char *var = NULL;
        char err[512] = "", want[128];
        ck_assert_int_eq(spin_launch_party(fake_getenv, &e, 3, &party, &var, err, sizeof err), SPIN_ERR_CONFIG);
        ck_assert_int_eq(party, -1);
        ck_assert_str_eq(var, "SLURM_PROCID");
        snprintf(want, sizeof want, "SLURM_PROCID=\"%s\" is not a party id (0..2; 3 is the dealer)", bad[i]);
        ck_assert_msg(strstr(err, want) != NULL, "\"%s\" does not say \"%s\"", err, want);
    }
    /* Without a party count: any id up to 63. */
    fake_env_t e = {{0}, {0}, 0};
    fake_set(&e, "SPIN_PARTY", "63");
    int party;
    const char *var;
    char err[512] = "";
    ck_assert_int_eq(spin_launch_party(fake_getenv, &e, 0, &party, &var, err, sizeof err), 0);
    ck_assert_int_eq(party, 63);
    e.value[0] = "64";
    ck_assert_int_eq(spin_launch_party(fake_getenv, &e, 0, &party, &var, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, "SPIN_PARTY=\"64\" is not a party id (0..63)") != NULL, "%s", err);
    /* None set: the error lists every variable. */
    fake_env_t none = {{0}, {0}, 0};
    ck_assert_int_eq(spin_launch_party(fake_getenv, &none, 2, &party, &var, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_int_eq(party, -1);
    ck_assert_ptr_null(var);
    for (int i = 0; i < 4; i++) ck_assert_msg(strstr(err, vars[i]) != NULL, "%s", err);
}
END_TEST

START_TEST(nparties_sources)
{
    fake_env_t e = {{0}, {0}, 0};
    spin_launch_peers_t pe;
    memset(&pe, 0, sizeof pe);
    pe.count = 4;
    pe.path = (char *)"peers.txt";
    int n = 0;
    char err[512] = "";
    /* from the peers file */
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &e, 0, &pe, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 3);
    /* the caller's count and SPIN_NPARTIES must agree with the file */
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &e, 3, &pe, &n, err, sizeof err), 0);
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &e, 2, &pe, &n, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, "peers file peers.txt lists 4 endpoints, but the caller says 2") != NULL, "%s", err);
    fake_set(&e, "SPIN_NPARTIES", "5");
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &e, 0, &pe, &n, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, "but SPIN_NPARTIES says 5") != NULL, "%s", err);
    /* SPIN_NPARTIES without a file; the caller's count wins over it */
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &e, 0, NULL, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &e, 2, NULL, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    static const char *const bad[] = {"1", "64", "two", "3x", "-2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.value[0] = bad[i];
        char want[80];
        snprintf(want, sizeof want, "SPIN_NPARTIES=\"%s\" is not a party count (2..63)", bad[i]);
        ck_assert_int_eq(spin_launch_nparties(fake_getenv, &e, 0, NULL, &n, err, sizeof err), SPIN_ERR_CONFIG);
        ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    }
    /* nothing to count */
    fake_env_t none = {{0}, {0}, 0};
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &none, 0, NULL, &n, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, "SPIN_NPARTIES") != NULL, "%s", err);
    ck_assert_int_eq(spin_launch_nparties(fake_getenv, &none, 1, NULL, &n, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, "1 computing parties from the caller: Spin needs 2..63") != NULL, "%s", err);
}
END_TEST

/* ---- ports, directories, local endpoints -------------------------------- */

START_TEST(loopback_ports_distinct)
{
    int ports[SPIN_LAUNCH_MAX_ENDPOINTS];
    char err[256] = "";
    ck_assert_int_eq(spin_launch_loopback_ports(SPIN_LAUNCH_MAX_ENDPOINTS, ports, err, sizeof err), 0);
    for (int i = 0; i < SPIN_LAUNCH_MAX_ENDPOINTS; i++) {
        ck_assert_int_gt(ports[i], 0);
        ck_assert_int_lt(ports[i], 65536);
        for (int j = 0; j < i; j++) ck_assert_int_ne(ports[i], ports[j]);
    }
    ck_assert_int_eq(spin_launch_loopback_ports(0, ports, NULL, 0), SPIN_ERR_INVAL);
    ck_assert_int_eq(spin_launch_loopback_ports(SPIN_LAUNCH_MAX_ENDPOINTS + 1, ports, NULL, 0), SPIN_ERR_INVAL);
}
END_TEST

START_TEST(tmpdir_private_and_removed)
{
    fake_env_t e = {{0}, {0}, 0};
    fake_set(&e, "TMPDIR", g_dir);
    mode_t old = umask(0);   /* mode 0700 whatever the umask */
    char dir[256], err[512] = "";
    int rc = spin_launch_tmpdir(fake_getenv, &e, "spin-test", dir, sizeof dir, err, sizeof err);
    umask(old);
    ck_assert_msg(rc == 0, "%s", err);
    char want[600];
    snprintf(want, sizeof want, "%s/spin-test-", g_dir);
    ck_assert_msg(strncmp(dir, want, strlen(want)) == 0, "%s is not under %s", dir, g_dir);
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq((int)(st.st_mode & 07777), 0700);
    /* Removal takes the sockets and files in it too. */
    spin_launch_peers_t pe;
    ck_assert_int_eq(spin_launch_local_endpoints("ipc", 2, dir, &pe, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/peers", dir);
    ck_assert_int_eq(spin_launch_peers_write(want, (const char *const *)pe.endpoints, pe.count, err, sizeof err), 0);
    spin_launch_peers_free(&pe);
    snprintf(want, sizeof want, "%s/p0", dir);
    FILE *f = fopen(want, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(spin_launch_tmpdir_remove(dir, err, sizeof err), 0);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_eq(spin_launch_tmpdir_remove(dir, err, sizeof err), 0);   /* already gone */
    /* A relative or very long TMPDIR: /tmp (ipc:// paths must stay short). */
    char longdir[128];
    memset(longdir, 'x', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    const char *other[] = {"relative/dir", longdir};
    for (int i = 0; i < 2; i++) {
        e.value[0] = other[i];
        ck_assert_int_eq(spin_launch_tmpdir(fake_getenv, &e, "spin-test", dir, sizeof dir, err, sizeof err), 0);
        ck_assert_msg(strncmp(dir, "/tmp/spin-test-", 15) == 0, "%s", dir);
        ck_assert_int_eq(spin_launch_tmpdir_remove(dir, err, sizeof err), 0);
    }
    /* An unwritable TMPDIR names the directory and the remedy. */
    snprintf(want, sizeof want, "%s/missing", g_dir);
    e.value[0] = want;
    ck_assert_int_eq(spin_launch_tmpdir(fake_getenv, &e, "spin-test", dir, sizeof dir, err, sizeof err),
                     SPIN_ERR_IO);
    ck_assert_msg(strstr(err, want) != NULL && strstr(err, "TMPDIR") != NULL, "%s", err);
}
END_TEST

START_TEST(local_endpoints_ipc_tcp)
{
    spin_launch_peers_t pe;
    char err[512] = "";
    ck_assert_int_eq(spin_launch_local_endpoints("ipc", 3, "/tmp/d", &pe, err, sizeof err), 0);
    ck_assert_int_eq(pe.count, 4);
    ck_assert_str_eq(pe.endpoints[0], "ipc:///tmp/d/p0");
    ck_assert_str_eq(pe.endpoints[2], "ipc:///tmp/d/p2");
    ck_assert_str_eq(pe.endpoints[3], "ipc:///tmp/d/dealer");
    ck_assert_ptr_null(pe.endpoints[4]);
    spin_launch_peers_free(&pe);
    ck_assert_int_eq(spin_launch_local_endpoints("tcp", 4, NULL, &pe, err, sizeof err), 0);
    ck_assert_int_eq(pe.count, 5);
    for (int i = 0; i < 5; i++) {
        int port = 0;
        ck_assert_int_eq(sscanf(pe.endpoints[i], "tcp://127.0.0.1:%d", &port), 1);
        for (int j = 0; j < i; j++) ck_assert_str_ne(pe.endpoints[i], pe.endpoints[j]);
    }
    spin_launch_peers_free(&pe);
    /* Socket paths that do not fit, a scheme without local endpoints, N out of range. */
    char longdir[200];
    memset(longdir, 'y', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    ck_assert_int_eq(spin_launch_local_endpoints("ipc", 2, longdir, &pe, err, sizeof err), SPIN_ERR_CONFIG);
    ck_assert_msg(strstr(err, "TMPDIR") != NULL, "%s", err);
    ck_assert_int_eq(spin_launch_local_endpoints("rdma", 2, "/tmp/d", &pe, err, sizeof err), SPIN_ERR_INVAL);
    ck_assert_int_eq(spin_launch_local_endpoints("ipc", 1, "/tmp/d", &pe, err, sizeof err), SPIN_ERR_INVAL);
    ck_assert_int_eq(spin_launch_local_endpoints("ipc", 64, "/tmp/d", &pe, err, sizeof err), SPIN_ERR_INVAL);
}
END_TEST

/* ---- thread shares -------------------------------------------------------- */

START_TEST(thread_share_rule)
{
    static const struct { int procs, cores, threads, passive; } cases[] = {
        {3, 2, 1, 1},     /* spin-run -n 2 on 2 cores: one thread each, sleeping idle threads */
        {3, 16, 5, 1},    /* 15 of 16 cores busy at most; passive: the processes still share */
        {1, 8, 8, 0},     /* one process: all of them, OpenMP's own policy */
        {1, 1, 1, 0},
        {2, 2, 1, 1},
        {4, 2, 1, 1},     /* more processes than cores */
        {65, 64, 1, 1},
        {2, 7, 3, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spin_launch_share_t sh = {0, -1};
        char err[256] = "";
        int rc = spin_launch_thread_share(cases[i].procs, cases[i].cores, &sh, err, sizeof err);
        ck_assert_msg(rc == 0, "%d procs on %d cores: %s", cases[i].procs, cases[i].cores, err);
        ck_assert_msg(sh.threads == cases[i].threads && sh.passive == cases[i].passive,
                      "%d procs on %d cores: %d threads, passive %d; expected %d, %d", cases[i].procs,
                      cases[i].cores, sh.threads, sh.passive, cases[i].threads, cases[i].passive);
    }
    /* Counts below 1 (or too many processes): an error naming both. */
    static const int bad[][2] = {{0, 2}, {-1, 2}, {3, 0}, {3, -4}, {0, 0},
                                 {SPIN_LAUNCH_MAX_LOCAL_PROCS + 1, 8}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spin_launch_share_t sh;
        char err[256] = "";
        ck_assert_int_eq(spin_launch_thread_share(bad[i][0], bad[i][1], &sh, err, sizeof err), SPIN_ERR_INVAL);
        ck_assert_msg(strstr(err, "processes") != NULL && strstr(err, "cores") != NULL, "%s", err);
    }
    ck_assert_int_eq(spin_launch_thread_share(3, 2, NULL, NULL, 0), SPIN_ERR_INVAL);
    ck_assert_int_eq(spin_launch_thread_share(SPIN_LAUNCH_MAX_LOCAL_PROCS, 2, &(spin_launch_share_t){0, 0},
                                              NULL, 0), 0);
}
END_TEST

START_TEST(cores_and_local_procs)
{
    int cores = spin_launch_cores();
    ck_assert_int_ge(cores, 1);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online > 0) ck_assert_int_le(cores, online);
    fake_env_t e = {{0}, {0}, 0};
    int procs = 0;
    char err[256] = "";
    ck_assert_int_eq(spin_launch_local_procs(fake_getenv, &e, &procs, err, sizeof err), 0);
    ck_assert_int_eq(procs, 1);   /* unset: this process alone */
    fake_set(&e, "SPIN_LOCAL_PROCS", "");
    ck_assert_int_eq(spin_launch_local_procs(fake_getenv, &e, &procs, err, sizeof err), 0);
    ck_assert_int_eq(procs, 1);   /* empty counts as unset */
    e.value[0] = "4";
    ck_assert_int_eq(spin_launch_local_procs(fake_getenv, &e, &procs, err, sizeof err), 0);
    ck_assert_int_eq(procs, 4);
    const char *bad[] = {"0", "-2", "4x", "many", "4097"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.value[0] = bad[i];
        err[0] = '\0';
        ck_assert_int_eq(spin_launch_local_procs(fake_getenv, &e, &procs, err, sizeof err), SPIN_ERR_CONFIG);
        ck_assert_int_eq(procs, 1);
        ck_assert_msg(strstr(err, "SPIN_LOCAL_PROCS") != NULL && strstr(err, bad[i]) != NULL, "%s", err);
    }
    ck_assert_int_eq(spin_launch_local_procs(fake_getenv, &e, NULL, NULL, 0), SPIN_ERR_INVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("launch");
    TCase *tp = tcase_create("peers files");
    tcase_add_checked_fixture(tp, setup_dir, teardown_dir);
    tcase_add_test(tp, peers_comments_blanks_crlf);
    tcase_add_test(tp, peers_malformed_lines);
    tcase_add_test(tp, peers_too_many_too_few_missing);
    tcase_add_test(tp, peers_write_read_back);
    tcase_add_test(tp, endpoint_syntax);
    suite_add_tcase(s, tp);
    TCase *ti = tcase_create("party id and count");
    tcase_add_test(ti, party_each_variable);
    tcase_add_test(ti, party_precedence);
    tcase_add_test(ti, party_malformed_and_missing);
    tcase_add_test(ti, nparties_sources);
    suite_add_tcase(s, ti);
    TCase *tl = tcase_create("local runs");
    tcase_add_checked_fixture(tl, setup_dir, teardown_dir);
    tcase_add_test(tl, loopback_ports_distinct);
    tcase_add_test(tl, tmpdir_private_and_removed);
    tcase_add_test(tl, local_endpoints_ipc_tcp);
    suite_add_tcase(s, tl);
    TCase *tt = tcase_create("thread shares");
    tcase_add_test(tt, thread_share_rule);
    tcase_add_test(tt, cores_and_local_procs);
    suite_add_tcase(s, tt);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
