/* conformance_transport.h - what the parts of the transport conformance
 * suite share: the harness of conformance_transport.c (sessions of N party
 * threads, the plugin under test), and the functions that build each part's
 * test case. */
#ifndef SPIN_TESTS_CONFORMANCE_TRANSPORT_H
#define SPIN_TESTS_CONFORMANCE_TRANSPORT_H

#include <check.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <spin/spin.h>

#define MAXP 6

/* the run's plugin and scheme (main, from argv and the plugin's descriptor) */
extern const char *g_plugin;   /* plugin under test */
extern const char *g_scheme;   /* tcp | ipc | rdma */
extern uint64_t g_caps;        /* its capability bits */
extern const char *g_schemes;  /* its endpoint schemes ("tcp ipc") */

/* ------------------------------------------------------------------------ */
/* Sessions: N parties as threads.                                          */
/* ------------------------------------------------------------------------ */

typedef struct sess sess_t;
typedef struct party party_t;
typedef void (*body_fn)(party_t *p);

typedef struct pcfg {
    int nparties;              /* 0: the session's n */
    uint64_t fingerprint;      /* 0: the default */
    const char *key_dir;
    int timeout_ms;            /* 0: 30 s */
    int skip;                  /* this party is not started (missing peer) */
} pcfg_t;

struct party {
    sess_t *s;
    int me;
    const spin_transport_ops_t *t;
    void *comm;
    int open_rc;
    double open_s;             /* seconds open() took */
    char fail[768];            /* first failure, "" if none */
    char log[8192];            /* captured log lines */
    size_t loglen;
    pthread_mutex_t log_mu;
};

struct sess {
    int n;
    char *dir;
    char *eps[MAXP];
    pcfg_t pc[MAXP];
    body_fn body;
    party_t p[MAXP];
    pthread_barrier_t bar;
    void *user;
};

#define REQ(p, cond, ...)                                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            pfail((p), __VA_ARGS__);                                          \
            return;                                                           \
        }                                                                     \
    } while (0)

/* ---- conformance_transport.c: the harness -------------------------------- */

/* seconds on the monotonic clock */
double now_s(void);
/* whether party p logged a line containing needle */
int logged(party_t *p, const char *needle);
/* records the first failure of a party thread (REQ) */
void pfail(party_t *p, const char *fmt, ...);
/* a session of n parties on fresh endpoints; sess_free removes them */
void sess_init(sess_t *s, int n);
void sess_free(sess_t *s);
/* runs body in every party (NULL: open and close only), then joins them */
void sess_run(sess_t *s, body_fn body);
void sess_destroy_logs(sess_t *s);
/* asserts that every party opened and its body passed */
void expect_clean(sess_t *s);

/* ---- conformance_transport_data.c ---------------------------------------- */

/* the ordering test on n parties, with key files from key_dir (or NULL) */
void run_order(int n, const char *key_dir);

/* ---- conformance_transport_secure.c -------------------------------------- */

typedef int (*keypair_fn)(char *pub, char *sec);
/* libzmq, once curve_keypair has loaded it (main closes it) */
extern void *g_zmq_lib;
/* zmq_curve_keypair, or NULL without libzmq */
keypair_fn curve_keypair(void);

/* ---- the test cases of each part, in the suite's order ------------------- */

TCase *data_tcase(void);        /* "data": conformance_transport_data.c */
TCase *errors_tcase(void);      /* "errors": conformance_transport_errors.c */
TCase *secure_tcase(void);      /* "secure": conformance_transport_secure.c */
TCase *rdma_faults_tcase(void); /* "rdma-faults": conformance_transport_errors.c */

#endif
