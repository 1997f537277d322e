/* run.h - internals of spin-run, the launcher (see spin-run.c). */
#ifndef SPIN_RUN_H
#define SPIN_RUN_H

#include <stddef.h>

#include <spin/launch.h>

/* The library's limit: N computing parties with N + 1 <= 64 endpoints. */
#define RUN_MAX_PARTIES SPIN_LAUNCH_MAX_PARTIES

/* ---- peers files and endpoints (run_peers.c) ---------------------------- */

/* Read a peers file (spin_launch_peers_read: one endpoint per line, '#'
 * comments, blank lines ignored, 3..64 endpoints) and check the address of
 * the endpoints whose form spin-run knows (tcp://HOST:PORT, rdma://HOST:PORT,
 * ipc://PATH); other schemes are left to the transport plugins.  On error
 * prints a message naming the file and the line and returns -1. */
int run_read_peers(const char *path, spin_launch_peers_t *peers);

/* A private temporary directory (spin_launch_tmpdir; dir[size >= 256])
 * holding the peers file of a run on this host: n + 1 endpoints (parties
 * 0..n-1, then the dealer), ipc:// sockets in dir or tcp://127.0.0.1:PORT
 * with distinct free ports (spin_launch_local_endpoints).  peers_path
 * [size >= 300] gets the file's path.  -1 on error (printed; nothing is
 * left behind). */
int run_make_peers(int n, int tcp, char *dir, size_t dsize, char *peers_path, size_t size);
/* Remove dir and the sockets and peers file in it (a warning if it stays). */
void run_remove_tmpdir(const char *dir);

/* Dealer role of a peers file: open the context as party n and serve until
 * every party has closed.  Returns 0 on success, 1 on error (printed). */
int run_dealer(const char *peers_file, int n);
/* The environment of a party process: SPIN_PARTY, SPIN_NPARTIES,
 * SPIN_PEERS_FILE, and glibc malloc tunables for large messages unless the
 * user set GLIBC_TUNABLES. */
void run_party_env(long id, int n, const char *peers);
/* The thread share of each of procs Spin processes on this host
 * (spin_launch_thread_share over spin_launch_cores): OMP_NUM_THREADS,
 * OMP_WAIT_POLICY (passive, or left unset) and OPENBLAS_NUM_THREADS, set
 * in this process's environment, which every child inherits, except where
 * the user set them.  When procs > 1 and it set one, one line on stderr
 * says what each process gets. */
void run_thread_env(int procs);

/* Is prog (searched in PATH unless it contains '/') an executable file?
 * 0 if so, else an errno value. */
int run_find_program(const char *prog);

/* ---- local launch (run_local.c) ---------------------------------------- */

typedef struct run_local_opts {
    int n;                  /* computing parties */
    int tcp;                /* tcp:// on loopback instead of ipc:// */
    int no_dealer;          /* do not start the dealer */
    double timeout_s;       /* > 0: stop everything after this many seconds */
    char *const *argv;      /* PROGRAM ARGS..., NULL-terminated */
} run_local_opts_t;

/* Start the parties and the dealer, relay their output, wait for them.
 * Returns spin-run's exit status. */
int run_local(const run_local_opts_t *o);

#endif /* SPIN_RUN_H */
