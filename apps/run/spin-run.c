/* spin-run - start the parties of a Spin computation.
 *
 *   spin-run -n N [--tcp] [--timeout S] [--no-dealer] [--] PROGRAM ARGS...
 *       N parties running PROGRAM and the dealer, all on this host.
 *   spin-run --peers FILE [--party I] [--] PROGRAM ARGS...
 *       one party of a computation across hosts (exec, no fork).
 *   spin-run --peers FILE --dealer
 *       the dealer of that computation, in the foreground.
 *
 * Each party gets SPIN_PARTY, SPIN_NPARTIES and SPIN_PEERS_FILE in its
 * environment; spin_ctx_open(NULL, ...) reads them.  Every process also
 * gets its share of the host's cores in OMP_NUM_THREADS, OMP_WAIT_POLICY
 * and OPENBLAS_NUM_THREADS unless the user set them (run_thread_env). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: spin-run -n N [--tcp] [--timeout S] [--no-dealer] [--] PROGRAM [ARGS...]\n"
            "       spin-run --peers FILE [--party I] [--] PROGRAM [ARGS...]\n"
            "       spin-run --peers FILE --dealer\n"
            "\n"
            "Starts the parties of a Spin computation.  Every party process gets\n"
            "SPIN_PARTY (its id), SPIN_NPARTIES and SPIN_PEERS_FILE in its environment.\n"
            "\n"
            "On this host (-n N): N processes run PROGRAM (parties 0..N-1) and one more\n"
            "is the dealer.  Their output is relayed line by line prefixed with \"[p0] \",\n"
            "\"[p1] \", ..., \"[dealer] \" (stdout to stdout, stderr to stderr); their\n"
            "stdin is /dev/null.  If any process fails, spin-run names it, stops the\n"
            "others (SIGTERM, then SIGKILL after 2 s) and exits non-zero: 1, or 128+SIG\n"
            "if it was killed by signal SIG.  SIGINT, SIGTERM and SIGHUP are passed on.\n"
            "  -n, --parties N    computing parties, 2..%d\n"
            "      --tcp          tcp://127.0.0.1 with free ports (default: ipc://\n"
            "                     sockets in a private temporary directory)\n"
            "      --timeout S    stop everything after S seconds (exit 124)\n"
            "      --no-dealer    start no dealer: for programs that do not use MPC\n"
            "\n"
            "Across hosts (--peers FILE): runs one party; FILE has one endpoint per line\n"
            "(tcp://HOST:PORT or ipc://PATH; rdma://HOST:PORT with the rdma plugin) for\n"
            "parties 0..N-1, then the dealer's; '#' starts a comment.  The party id is\n"
            "--party I, else SPIN_PARTY, SLURM_PROCID, OMPI_COMM_WORLD_RANK or PMI_RANK,\n"
            "so srun and mpirun can start the parties; id N (one rank more) is the dealer.\n"
            "      --peers FILE   the peers file\n"
            "      --party I      this process's party id, 0..N-1 (N: the dealer)\n"
            "      --dealer       run the dealer of FILE in the foreground\n"
            "  -h, --help         this text\n"
            "\n"
            "Threads: each process gets OMP_NUM_THREADS=max(1, CORES/PROCS) and\n"
            "OPENBLAS_NUM_THREADS the same, and OMP_WAIT_POLICY=passive when PROCS > 1,\n"
            "where CORES are the CPUs spin-run may use and PROCS the Spin processes on\n"
            "this host: N + 1 with -n N (N with --no-dealer); SPIN_LOCAL_PROCS, else 1,\n"
            "with --peers.  A variable you set is left as it is.\n"
            "\n"
            "Exit status: 0 when every process succeeded; 1 when one failed (128+SIG\n"
            "when killed by signal SIG); 124 at the --timeout; 2 for wrong arguments;\n"
            "127 if PROGRAM cannot be run.  With --peers: PROGRAM's own status.\n",
            RUN_MAX_PARTIES);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("spin-run: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    usage(stderr);
    return 2;
}

/* One party of a peers file: exec PROGRAM (or serve as the dealer). */
static int run_one(const char *peers_arg, const char *party_arg, int dealer, char **argv)
{
    spin_launch_peers_t eps;
    if (run_read_peers(peers_arg, &eps)) return 1;
    int n = eps.count - 1;
    spin_launch_peers_free(&eps);
    char peers[PATH_MAX];
    if (!realpath(peers_arg, peers)) {   /* the program may change directory */
        fprintf(stderr, "spin-run: %s: %s\n", peers_arg, strerror(errno));
        return 1;
    }
    char err[512];
    int procs;
    if (spin_launch_local_procs(NULL, NULL, &procs, err, sizeof err)) {
        fprintf(stderr, "spin-run: %s\n", err);
        return 1;
    }
    run_thread_env(procs);
    if (dealer) return run_dealer(peers, n);

    long id = -1;
    const char *from = "--party";
    if (party_arg) {
        if (spin_launch_parse_int(party_arg, 0, n, &id)) {
            fprintf(stderr, "spin-run: --party %s: not a party id (0..%d; %d is the dealer) for "
                            "the %d parties of %s\n", party_arg, n - 1, n, n, peers_arg);
            return 2;
        }
    } else {
        int party;
        if (spin_launch_party(NULL, NULL, n, &party, &from, err, sizeof err)) {
            fprintf(stderr, "spin-run: %s: %s%s\n", peers_arg, err, from ? "" : "; or pass --party I");
            return 1;
        }
        id = party;
    }
    if (id == n) return run_dealer(peers, n);   /* rank N of N + 1: the dealer */
    if (!argv[0]) {
        fprintf(stderr, "spin-run: party %ld (from %s) needs a PROGRAM to run\n", id, from);
        usage(stderr);
        return 2;
    }
    run_party_env(id, n, peers);
    fflush(stdout);
    execvp(argv[0], argv);
    fprintf(stderr, "spin-run: cannot run %s: %s\n", argv[0], strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    /* fds 0-2 open, so no pipe of ours lands on them. */
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd < 3) {}
    if (fd > 2) close(fd);

    enum { OPT_TCP = 256, OPT_TIMEOUT, OPT_NODEALER, OPT_PEERS, OPT_PARTY, OPT_DEALER };
    static const struct option longopts[] = {
        {"parties", required_argument, NULL, 'n'},
        {"tcp", no_argument, NULL, OPT_TCP},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"no-dealer", no_argument, NULL, OPT_NODEALER},
        {"peers", required_argument, NULL, OPT_PEERS},
        {"party", required_argument, NULL, OPT_PARTY},
        {"dealer", no_argument, NULL, OPT_DEALER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    run_local_opts_t lo;
    memset(&lo, 0, sizeof lo);
    const char *n_arg = NULL, *peers = NULL, *party = NULL;
    int dealer = 0, c;
    long v;
    /* '+': options end at PROGRAM, whose own options are left alone. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': n_arg = optarg; break;
        case OPT_TCP: lo.tcp = 1; break;
        case OPT_TIMEOUT: {
            char *end;
            errno = 0;
            lo.timeout_s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(lo.timeout_s > 0) || lo.timeout_s > 1e7)
                return bad_usage("--timeout %s: expected a positive number of seconds", optarg);
            break;
        }
        case OPT_NODEALER: lo.no_dealer = 1; break;
        case OPT_PEERS: peers = optarg; break;
        case OPT_PARTY: party = optarg; break;
        case OPT_DEALER: dealer = 1; break;
        case 'h': usage(stdout); return 0;
        case ':': return bad_usage("option %s needs an argument", argv[optind - 1]);
        default:
            if (optopt) {
                char opt[3] = {'-', (char)optopt, '\0'};
                return bad_usage("unknown option %s", opt);
            }
            return bad_usage("unknown option %s", argv[optind - 1]);
        }
    }
    char **prog = argv + optind;

    if (peers) {
        if (n_arg || lo.tcp || lo.no_dealer || lo.timeout_s > 0)
            return bad_usage("%s", "--peers runs one process: -n, --tcp, --timeout and --no-dealer "
                                   "are for starting every party on this host");
        if (dealer && (party || prog[0]))
            return bad_usage("%s", "--dealer takes neither --party nor a PROGRAM");
        return run_one(peers, party, dealer, prog);
    }
    if (party || dealer) return bad_usage("%s", "--party and --dealer need --peers FILE");
    if (!n_arg) return bad_usage("%s", "say how many parties to start (-n N), or give --peers FILE");
    if (spin_launch_parse_int(n_arg, 2, RUN_MAX_PARTIES, &v)) {
        fprintf(stderr, "spin-run: -n %s: the number of computing parties must be 2..%d\n", n_arg,
                RUN_MAX_PARTIES);
        usage(stderr);
        return 2;
    }
    lo.n = (int)v;
    if (!prog[0]) return bad_usage("%s", "no PROGRAM to run");
    int e = run_find_program(prog[0]);
    if (e) {
        fprintf(stderr, "spin-run: cannot run %s: %s\n", prog[0],
                e == ENOENT && !strchr(prog[0], '/') ? "command not found in PATH" : strerror(e));
        return 127;
    }
    lo.argv = prog;
    return run_local(&lo);
}
