/*
 * spin/launch.h - launching a computation: peers files, the party id and
 * the party count, free loopback ports, private temporary directories, the
 * endpoints of a run on one host and the threads of each process on it.
 * spin_ctx_open(), spin_run_local() and spin-run all use these, so every
 * launcher reads the same settings the same way and reports the same
 * errors.
 *
 * Settings are read through a getenv hook, `getenv_fn(env_ctx, name)`, as
 * spin_runtime_opts_t does; getenv_fn == NULL reads the process environment.
 * An empty value counts as unset.
 *
 * Errors: every function that can fail returns 0 or a SPIN_ERR_* code and
 * writes one line (no newline) into err[errlen] that names the file and
 * line, or the variable, and what to do about it.  err may be NULL.
 *
 * Endpoints are "SCHEME://REST" with SCHEME of [a-z0-9+.-] and REST not
 * empty; that is the only check made here.  Which schemes exist is up to
 * the transport plugins (spin_runtime_transport_for() picks the one that
 * takes them), so a new transport needs no change to this module.
 */
#ifndef SPIN_LAUNCH_H
#define SPIN_LAUNCH_H

#include <stddef.h>

#include <spin/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

/** At most this many computing parties, plus the dealer. */
#define SPIN_LAUNCH_MAX_PARTIES 63
#define SPIN_LAUNCH_MAX_ENDPOINTS (SPIN_LAUNCH_MAX_PARTIES + 1)

/** Configuration lookup: the value of `name`, or NULL when unset. */
typedef const char *(*spin_launch_getenv_fn)(void *env_ctx, const char *name);

/** The endpoints of a computation: parties 0..count-2, then the dealer. */
typedef struct spin_launch_peers {
    int count;
    char **endpoints;            /**< count strings, then NULL */
    int *lines;                  /**< line of each endpoint in its file; NULL if not read from one */
    char *path;                  /**< the file they were read from; NULL if none */
} spin_launch_peers_t;

/** The one rule for numeric settings and options (party ids, counts,
 *  SPIN_FRAC_BITS, spin-run -n): a decimal integer in lo..hi and nothing
 *  after it.  0 and *out set, or -1 (out of range, not a number, NULL). */
SPIN_API int spin_launch_parse_int(const char *s, long lo, long hi, long *out);

/** Is ep "SCHEME://REST" (SCHEME [a-z0-9+.-]+, REST not empty)?  1 or 0;
 *  *scheme_len (may be NULL) gets the length of SCHEME. */
SPIN_API int spin_launch_endpoint_ok(const char *ep, size_t *scheme_len);

/** Read a peers file: one endpoint per line; '#' starts a comment; blank
 *  lines, surrounding blanks and CR line ends are ignored.  It must list 3
 *  to SPIN_LAUNCH_MAX_ENDPOINTS endpoints (2 or more parties and the
 *  dealer).  SPIN_ERR_CONFIG for a missing or malformed file (the error
 *  names the file and the line), SPIN_ERR_NOMEM.  Free with
 *  spin_launch_peers_free(). */
SPIN_API int spin_launch_peers_read(const char *path, spin_launch_peers_t *out, char *err, size_t errlen);

/** Write count endpoints, one per line, to path (replacing it; the file is
 *  complete or absent: it is written to path.tmp and renamed). */
SPIN_API int spin_launch_peers_write(const char *path, const char *const *endpoints, int count,
                                     char *err, size_t errlen);

/** Free what spin_launch_peers_read / spin_launch_local_endpoints filled
 *  in, and zero *p.  NULL and a zeroed struct are fine. */
SPIN_API void spin_launch_peers_free(spin_launch_peers_t *p);

/** This process's party id from the first of SPIN_PARTY, SLURM_PROCID,
 *  OMPI_COMM_WORLD_RANK, PMI_RANK that is set.  nparties > 0: the id must
 *  be 0..nparties (nparties is the dealer); 0: 0..SPIN_LAUNCH_MAX_PARTIES.
 *  *var (may be NULL) gets the name of the variable used.  SPIN_ERR_CONFIG
 *  when the first one set is not such an id (*party = -1, *var = its name;
 *  later ones are not consulted), or when none is set (*party = -1,
 *  *var = NULL; the error lists the variables). */
SPIN_API int spin_launch_party(spin_launch_getenv_fn getenv_fn, void *env_ctx, int nparties, int *party,
                               const char **var, char *err, size_t errlen);

/** The number of computing parties N: `given` if > 0, else SPIN_NPARTIES,
 *  else peers->count - 1.  N must be 2..SPIN_LAUNCH_MAX_PARTIES and, when
 *  peers is not NULL, the file must list N + 1 endpoints.  SPIN_ERR_CONFIG
 *  otherwise (also when neither SPIN_NPARTIES nor peers is there). */
SPIN_API int spin_launch_nparties(spin_launch_getenv_fn getenv_fn, void *env_ctx, int given,
                                  const spin_launch_peers_t *peers, int *nparties, char *err,
                                  size_t errlen);

/** n (1..SPIN_LAUNCH_MAX_ENDPOINTS) distinct free TCP ports on 127.0.0.1:
 *  every socket stays bound until all are chosen.  Another process may
 *  still take one before its user binds it.  SPIN_ERR_INVAL, SPIN_ERR_IO. */
SPIN_API int spin_launch_loopback_ports(int n, int *ports, char *err, size_t errlen);

/** A private temporary directory, mode 0700: "$TMPDIR/PREFIX-XXXXXX"
 *  (/tmp when TMPDIR is unset, relative or longer than 64 characters, so
 *  that ipc:// socket paths inside it stay short).  dir[size] gets its
 *  path (size >= 80 is always enough).  SPIN_ERR_IO on failure. */
SPIN_API int spin_launch_tmpdir(spin_launch_getenv_fn getenv_fn, void *env_ctx, const char *prefix,
                                char *dir, size_t size, char *err, size_t errlen);

/** Remove every file in dir (not subdirectories), then dir.  A dir that
 *  is already gone is fine; SPIN_ERR_IO when something stays. */
SPIN_API int spin_launch_tmpdir_remove(const char *dir, char *err, size_t errlen);

/** The nparties + 1 endpoints of a run on this host (the dealer's last):
 *  scheme "tcp": tcp://127.0.0.1:PORT with distinct free ports; "ipc" (or
 *  NULL): ipc://DIR/p0 .. ipc://DIR/p<N-1>, ipc://DIR/dealer, where dir is
 *  a directory of the caller's (spin_launch_tmpdir).  Free with
 *  spin_launch_peers_free(). */
SPIN_API int spin_launch_local_endpoints(const char *scheme, int nparties, const char *dir,
                                         spin_launch_peers_t *out, char *err, size_t errlen);

/* ---- sharing the cores of a host ----------------------------------------
 * Several Spin processes on one host (spin-run -n N starts N parties and
 * the dealer) each run OpenMP and OpenBLAS thread pools.  Left at their
 * defaults every pool has a thread per core and OpenMP's idle threads
 * spin, so the processes take the cores from each other (LeNet training
 * on 2 cores ran 3x slower as 3 processes than as threads of one).  These
 * give each process its share; spin-run puts it into OMP_NUM_THREADS,
 * OMP_WAIT_POLICY and OPENBLAS_NUM_THREADS where the user has not. */

/** At most this many Spin processes on one host (SPIN_LOCAL_PROCS). */
#define SPIN_LAUNCH_MAX_LOCAL_PROCS 4096

/** What one of the processes on a host gets. */
typedef struct spin_launch_share {
    int threads;                 /**< OpenMP and OpenBLAS threads, >= 1 */
    int passive;                 /**< 1: OMP_WAIT_POLICY=passive (idle threads sleep rather
                                      than spin); 0: leave the policy unset (OpenMP's own) */
} spin_launch_share_t;

/** The CPUs this process may run on: its affinity mask (sched_getaffinity,
 *  so taskset, cpusets and srun's binding count), else the online CPUs;
 *  at least 1.  A CPU-time quota (cgroup cpu.max) is not seen. */
SPIN_API int spin_launch_cores(void);

/** The share of each of procs_on_host processes that run on `cores` CPUs:
 *  threads = max(1, cores / procs_on_host); passive whenever
 *  procs_on_host > 1 or threads * procs_on_host > cores (a process that
 *  waits on the network must not keep cores busy that another needs).
 *  E.g. 3 processes on 2 cores: 1 thread, passive; 3 on 16: 5, passive;
 *  1 on 8: 8, policy left unset.  SPIN_ERR_INVAL when either count is
 *  below 1 or procs_on_host is above SPIN_LAUNCH_MAX_LOCAL_PROCS, or out
 *  is NULL. */
SPIN_API int spin_launch_thread_share(int procs_on_host, int cores, spin_launch_share_t *out,
                                      char *err, size_t errlen);

/** How many Spin processes share this host, for a launcher that starts
 *  only some of them (spin-run --peers): SPIN_LOCAL_PROCS, 1 when unset.
 *  SPIN_ERR_CONFIG when it is not 1..SPIN_LAUNCH_MAX_LOCAL_PROCS (*procs
 *  = 1 then). */
SPIN_API int spin_launch_local_procs(spin_launch_getenv_fn getenv_fn, void *env_ctx, int *procs,
                                     char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_LAUNCH_H */
