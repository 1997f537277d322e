/* run_local.c - spin-run -n N: N party processes and the dealer on this host.
 *
 * Every child gets its own process group (so that stopping it also stops
 * whatever it started), PR_SET_PDEATHSIG (so that it dies if spin-run is
 * killed outright) and two pipes for stdout and stderr, which the parent
 * relays line by line with a "[pI] " or "[dealer] " prefix.  Exits are
 * noticed with waitid(WNOWAIT) and reaped only at the very end, so a
 * child's process-group id cannot be reused while we may still signal it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define MAX_LINE 65536          /* a longer line is cut into pieces */
#define KILL_GRACE_MS 2000      /* SIGTERM -> SIGKILL */
#define DEALER_GRACE_MS 10000   /* parties done, dealer still running */

typedef struct linebuf {
    char *buf;
    size_t len, cap;
} linebuf_t;

typedef struct proc {
    pid_t pid;
    int id;                     /* party id; n for the dealer */
    char name[24];              /* "party 3" or "dealer" */
    char prefix[24];            /* "[p3] " or "[dealer] " */
    int fd[2];                  /* read ends of stdout, stderr; -1 once closed */
    linebuf_t lb[2];
    int exited;                 /* seen by waitid(WNOWAIT), not reaped yet */
    int code, status;           /* siginfo si_code, si_status */
} proc_t;

static int sig_r = -1, sig_w = -1;
static int out_broken[2];       /* our stdout / stderr failed: drop output */

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    ssize_t r = write(sig_w, &c, 1);
    (void)r;
    errno = saved;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const int handled_signals[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP};
#define NHANDLED ((int)(sizeof handled_signals / sizeof handled_signals[0]))

static int install_handlers(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    sig_r = p[0];
    sig_w = p[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NHANDLED; i++) sigaction(handled_signals[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void restore_handlers(void)
{
    for (int i = 0; i < NHANDLED; i++) signal(handled_signals[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (sig_r >= 0) close(sig_r);
    if (sig_w >= 0) close(sig_w);
    sig_r = sig_w = -1;
}

/* In a child, before it runs anything: die with the parent, own process
 * group, default signal dispositions, stdin from /dev/null, stdout and
 * stderr into the pipes. */
static void child_setup(pid_t parent, int out_w, int err_w)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  /* the parent died before prctl */
    setpgid(0, 0);
    for (int i = 0; i < NHANDLED; i++) signal(handled_signals[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, 0);
        if (null > 2) close(null);
    }
    if (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) _exit(127);
    close(out_w);
    close(err_w);
}

/* Write all of buf to fd (stdout or stderr); on a broken stream, drop. */
static void write_all(int which, const char *buf, size_t len)
{
    int fd = which ? 2 : 1;
    while (len && !out_broken[which]) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            out_broken[which] = 1;
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
}

/* One line (without its newline) with the prefix, in a single write. */
static void emit(const proc_t *p, int which, const char *s, size_t len)
{
    static char out[MAX_LINE + 32];
    size_t pl = strlen(p->prefix);
    memcpy(out, p->prefix, pl);
    memcpy(out + pl, s, len);
    out[pl + len] = '\n';
    write_all(which, out, pl + len + 1);
}

static int lb_append(linebuf_t *lb, const char *s, size_t len)
{
    if (lb->len + len > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 256;
        while (cap < lb->len + len) cap *= 2;
        char *b = realloc(lb->buf, cap);
        if (!b) return -1;
        lb->buf = b;
        lb->cap = cap;
    }
    memcpy(lb->buf + lb->len, s, len);
    lb->len += len;
    return 0;
}

static void close_stream(proc_t *p, int which)
{
    linebuf_t *lb = &p->lb[which];
    if (lb->len) emit(p, which, lb->buf, lb->len);  /* partial last line */
    lb->len = 0;
    close(p->fd[which]);
    p->fd[which] = -1;
}

/* Read what a child wrote and relay every complete line. */
static void relay(proc_t *p, int which)
{
    char chunk[8192];
    ssize_t r = read(p->fd[which], chunk, sizeof chunk);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (r <= 0) {
        close_stream(p, which);
        return;
    }
    linebuf_t *lb = &p->lb[which];
    const char *s = chunk, *end = chunk + r;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t take = nl ? (size_t)(nl - s) : (size_t)(end - s);
        if (lb->len + take > MAX_LINE) take = MAX_LINE - lb->len;
        if (!lb->len && nl && take == (size_t)(nl - s)) {
            emit(p, which, s, take);                 /* whole line in the chunk */
        } else {
            if (lb_append(lb, s, take)) {            /* no memory: relay as is */
                if (lb->len) emit(p, which, lb->buf, lb->len);
                emit(p, which, s, take);
                lb->len = 0;
            } else if ((nl && s + take == nl) || lb->len == MAX_LINE) {
                emit(p, which, lb->buf, lb->len);
                lb->len = 0;
            }
        }
        s += take;
        if (s < end && *s == '\n') s++;
    }
}

static void describe_exit(const proc_t *p, char *buf, size_t size)
{
    if (p->code == CLD_EXITED)
        snprintf(buf, size, "exited with status %d", p->status);
    else
        snprintf(buf, size, "killed by signal %d (%s)", p->status, strsignal(p->status));
}

static int failed(const proc_t *p)
{
    return p->code != CLD_EXITED || p->status != 0;
}

/* Signal every child's process group (the leader may already be a zombie:
 * its group id stays reserved until we reap it). */
static void signal_groups(proc_t *ps, int np, int sig)
{
    for (int i = 0; i < np; i++)
        if (ps[i].pid > 0 && kill(-ps[i].pid, sig) != 0 && !ps[i].exited) kill(ps[i].pid, sig);
}

typedef struct loop_state {
    int stopping;               /* signals sent to every group */
    int killed;                 /* SIGKILL sent */
    long long kill_at;          /* when to send SIGKILL */
    int exit_code;
} loop_state_t;

static void begin_stop(loop_state_t *st, proc_t *ps, int np, int sig)
{
    if (st->stopping) return;
    st->stopping = 1;
    st->kill_at = now_ms() + KILL_GRACE_MS;
    signal_groups(ps, np, sig);
}

/* Notice exits (without reaping); report the first failure. */
static void check_exits(loop_state_t *st, proc_t *ps, int np)
{
    for (int i = 0; i < np; i++) {
        proc_t *p = &ps[i];
        if (p->pid <= 0 || p->exited) continue;
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != p->pid)
            continue;
        p->exited = 1;
        p->code = si.si_code;
        p->status = si.si_status;
        if (failed(p) && !st->stopping) {
            char how[96];
            describe_exit(p, how, sizeof how);
            fprintf(stderr, "spin-run: %s (pid %ld) %s; stopping the others\n", p->name, (long)p->pid, how);
            st->exit_code = p->code == CLD_EXITED ? 1 : 128 + p->status;
            begin_stop(st, ps, np, SIGTERM);
        }
    }
}

/* Start one child: a party (exec argv) or the dealer (id == n).  Returns 0,
 * or -1 with an error printed (*exec_err set if exec failed). */
static int launch(proc_t *p, const run_local_opts_t *o, const char *peers, int *exec_err)
{
    int out[2], err[2], ex[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) != 0) goto syserr;
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        goto syserr;
    }
    if (p->id < o->n && pipe2(ex, O_CLOEXEC) != 0) {
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        goto syserr;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        if (ex[0] >= 0) close(ex[0]), close(ex[1]);
        goto syserr;
    }
    if (pid == 0) {
        close(out[0]);
        close(err[0]);
        if (ex[0] >= 0) close(ex[0]);
        child_setup(parent, out[1], err[1]);
        if (p->id == o->n) {
            /* The dealer runs here, without exec: drop the parent's fds. */
            long max = sysconf(_SC_OPEN_MAX);
            if (max < 0 || max > 65536) max = 65536;
            for (int fd = 3; fd < max; fd++) close(fd);
            int rc = run_dealer(peers, o->n);
            fflush(stdout);
            fflush(stderr);
            _exit(rc);
        }
        run_party_env(p->id, o->n, peers);
        execvp(o->argv[0], o->argv);
        int e = errno;
        ssize_t w = write(ex[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    setpgid(pid, pid);  /* also in the child: whichever runs first */
    p->pid = pid;
    close(out[1]);
    close(err[1]);
    p->fd[0] = out[0];
    p->fd[1] = err[0];
    if (ex[0] >= 0) {
        close(ex[1]);
        int e = 0;
        ssize_t r;
        do r = read(ex[0], &e, sizeof e);
        while (r < 0 && errno == EINTR);
        close(ex[0]);
        if (r == (ssize_t)sizeof e) {
            fprintf(stderr, "spin-run: cannot run %s: %s\n", o->argv[0], strerror(e));
            *exec_err = 1;
            return -1;
        }
    }
    return 0;
syserr:
    fprintf(stderr, "spin-run: cannot start %s: %s\n", p->name, strerror(errno));
    return -1;
}

int run_local(const run_local_opts_t *o)
{
    char dir[256] = "", peers[300];
    int np = o->n + (o->no_dealer ? 0 : 1);
    proc_t *ps = calloc((size_t)np, sizeof *ps);
    if (!ps) {
        fprintf(stderr, "spin-run: out of memory\n");
        return 1;
    }
    for (int i = 0; i < np; i++) {
        ps[i].id = i;
        ps[i].fd[0] = ps[i].fd[1] = -1;
        if (i < o->n) {
            snprintf(ps[i].name, sizeof ps[i].name, "party %d", i);
            snprintf(ps[i].prefix, sizeof ps[i].prefix, "[p%d] ", i);
        } else {
            snprintf(ps[i].name, sizeof ps[i].name, "dealer");
            snprintf(ps[i].prefix, sizeof ps[i].prefix, "[dealer] ");
        }
    }
    if (run_make_peers(o->n, o->tcp, dir, sizeof dir, peers, sizeof peers)) {
        free(ps);
        return 1;
    }
    if (install_handlers()) {
        fprintf(stderr, "spin-run: cannot create a pipe: %s\n", strerror(errno));
        run_remove_tmpdir(dir);
        free(ps);
        return 1;
    }

    run_thread_env(np);   /* the children inherit it */

    loop_state_t st = {0, 0, 0, 0};
    long long start = now_ms();
    long long deadline = o->timeout_s > 0 ? start + (long long)(o->timeout_s * 1000.0) : 0;
    /* The dealer first (it serves), then the parties in order. */
    int exec_err = 0;
    for (int k = 0; k < np; k++) {
        proc_t *p = &ps[o->no_dealer ? k : (k + o->n) % np];
        if (launch(p, o, peers, &exec_err)) {
            st.exit_code = exec_err ? 127 : 1;
            begin_stop(&st, ps, np, SIGTERM);
            break;
        }
    }

    int finishing = 0, final_killed = 0;
    long long finish_at = 0, dealer_at = 0;
    struct pollfd *pfd = calloc((size_t)np * 2 + 1, sizeof *pfd);
    proc_t **who = calloc((size_t)np * 2 + 1, sizeof *who);
    int *which = calloc((size_t)np * 2 + 1, sizeof *which);
    if (!pfd || !who || !which) {
        fprintf(stderr, "spin-run: out of memory\n");
        st.exit_code = 1;
        begin_stop(&st, ps, np, SIGKILL);
        final_killed = finishing = 1;   /* reap below */
    }
    while (pfd && who && which) {
        check_exits(&st, ps, np);
        int all_exited = 1, open_fds = 0, parties_ok = 1;
        for (int i = 0; i < np; i++) {
            if (ps[i].pid > 0 && !ps[i].exited) all_exited = 0;
            if (ps[i].id < o->n && (ps[i].pid <= 0 || !ps[i].exited || failed(&ps[i]))) parties_ok = 0;
            open_fds += (ps[i].fd[0] >= 0) + (ps[i].fd[1] >= 0);
        }
        long long now = now_ms();
        if (all_exited && !finishing) {
            /* Whatever the children left behind in their groups goes too. */
            finishing = 1;
            finish_at = now + KILL_GRACE_MS;
            signal_groups(ps, np, SIGTERM);
        }
        if (all_exited && !open_fds) break;
        if (finishing && now >= finish_at) {
            if (final_killed) break;    /* a process outside the groups holds a pipe */
            signal_groups(ps, np, SIGKILL);
            final_killed = 1;
            finish_at = now + 1000;
        }
        if (st.stopping && !st.killed && now >= st.kill_at) {
            signal_groups(ps, np, SIGKILL);
            st.killed = 1;
        }
        if (deadline && now >= deadline && !st.stopping) {
            fprintf(stderr, "spin-run: time limit of %g s reached; stopping every process\n", o->timeout_s);
            st.exit_code = 124;
            begin_stop(&st, ps, np, SIGTERM);
        }
        if (!o->no_dealer && parties_ok && !st.stopping && !ps[o->n].exited) {
            if (!dealer_at) dealer_at = now + DEALER_GRACE_MS;
            else if (now >= dealer_at) {
                fprintf(stderr, "spin-run: every party has finished but the dealer still waits for "
                                "them after %d s: does %s open a Spin context? (use --no-dealer for "
                                "programs that do not use MPC)\n", DEALER_GRACE_MS / 1000, o->argv[0]);
                st.exit_code = 1;
                begin_stop(&st, ps, np, SIGTERM);
            }
        }
        /* Sleep until output, a signal, or the next deadline. */
        long long next = -1;
        long long cand[4] = {finishing ? finish_at : -1, st.stopping && !st.killed ? st.kill_at : -1,
                             deadline && !st.stopping ? deadline : -1, dealer_at && !st.stopping ? dealer_at : -1};
        for (int i = 0; i < 4; i++)
            if (cand[i] >= 0 && (next < 0 || cand[i] < next)) next = cand[i];
        int timeout = next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
        int nf = 0;
        pfd[nf].fd = sig_r;
        pfd[nf].events = POLLIN;
        nf++;
        for (int i = 0; i < np; i++)
            for (int w = 0; w < 2; w++)
                if (ps[i].fd[w] >= 0) {
                    pfd[nf].fd = ps[i].fd[w];
                    pfd[nf].events = POLLIN;
                    who[nf] = &ps[i];
                    which[nf] = w;
                    nf++;
                }
        int r = poll(pfd, (nfds_t)nf, timeout);
        if (r < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "spin-run: poll: %s\n", strerror(errno));
            st.exit_code = st.exit_code ? st.exit_code : 1;
            begin_stop(&st, ps, np, SIGKILL);
            break;
        }
        if (pfd[0].revents) {
            unsigned char sigs[64];
            ssize_t got = read(sig_r, sigs, sizeof sigs);
            for (ssize_t i = 0; i < got; i++) {
                int sig = sigs[i];
                if (sig == SIGCHLD) continue;   /* check_exits() runs next */
                if (!st.stopping) {
                    fprintf(stderr, "spin-run: got %s; stopping every process\n", strsignal(sig));
                    st.exit_code = 128 + sig;
                    begin_stop(&st, ps, np, sig);
                } else if (!st.killed) {
                    signal_groups(ps, np, SIGKILL);   /* asked twice: no more grace */
                    st.killed = 1;
                }
            }
        }
        for (int i = 1; i < nf; i++)
            if (pfd[i].revents) relay(who[i], which[i]);
    }

    /* Reap everything (each child has exited or been sent SIGKILL). */
    for (int i = 0; i < np; i++) {
        for (int w = 0; w < 2; w++)
            if (ps[i].fd[w] >= 0) close_stream(&ps[i], w);
        if (ps[i].pid > 0) {
            int status;
            if (!ps[i].exited && st.stopping) kill(-ps[i].pid, SIGKILL);
            while (waitpid(ps[i].pid, &status, 0) < 0 && errno == EINTR) {}
        }
        free(ps[i].lb[0].buf);
        free(ps[i].lb[1].buf);
    }
    restore_handlers();
    run_remove_tmpdir(dir);
    free(pfd);
    free(who);
    free(which);
    free(ps);
    return st.exit_code;
}
