/* spin-train - secure CNN training on Fashion-MNIST (or any MNIST-layout
 * IDX data), or the float64 reference of the same run (--plaintext).
 *
 * Secure runs start under spin-run (spin-run -n 2 spin-train ...), or with
 * --parties N, which runs the N parties and the dealer as threads of this
 * process.  Party 0 owns the data; it alone prints progress and writes the
 * metrics file.  See apps/README.md for the flags, the metrics format and
 * the checkpoint files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <spin/mpc.h>

#include "idx.h"
#include "train.h"
#include "train_io.h"

typedef struct opts {
    const char *model, *data, *metrics, *ckpt_dir, *export_path;
    int epochs, plaintext, resume, export_to, parties, loss_every, ckpt_every;
    int cosine;        /* --lr-schedule cosine */
    unsigned frac_bits;
    size_t train_limit, test_limit;
    train_hp_t hp;
} opts_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: spin-run -n N [--] spin-train [OPTIONS]      (secure, N parties + dealer)\n"
            "       spin-train --parties N [OPTIONS]             (the same, as threads of one process)\n"
            "       spin-train --plaintext [OPTIONS]             (float64 reference of the same run)\n"
            "Trains a CNN on Fashion-MNIST with the data owned by party 0.\n"
            "  -m, --model NAME       %s (default lenet)\n"
            "  -e, --epochs N         epochs (default 1)\n"
            "  -b, --batch N          batch size (default 128)\n"
            "      --lr X             learning rate (default 0.05)\n"
            "      --lr-schedule S    constant (default) or cosine: lr * (1 + cos(pi t / T)) / 2 at\n"
            "                         iteration t of T (annealed to 0 by the last batch)\n"
            "      --momentum X       SGD momentum (default 0.9)\n"
            "      --weight-decay X   weight decay (default 0)\n"
            "  -f, --frac-bits F      fixed-point fractional bits (default SPIN_FRAC_BITS, else 16;\n"
            "                         under spin-run set SPIN_FRAC_BITS=F so the dealer agrees)\n"
            "  -s, --seed S           initial weights and batch order (default 1)\n"
            "  -p, --parties N        run N parties + dealer in this process\n"
            "  -d, --data DIR         IDX files (default %s)\n"
            "      --train-limit N    use the first N training images (default all)\n"
            "      --test-limit N     test on the first N test images (default all)\n"
            "      --loss-every K     reveal the mean loss to party 0 every K iterations (default 10;\n"
            "                         0: never, the loss stays secret)\n"
            "      --metrics FILE     JSON-lines metrics (party 0)\n"
            "      --checkpoint DIR   write checkpoints (each party its own shares) to DIR\n"
            "      --checkpoint-every K  iterations between checkpoints (default 50; and each epoch)\n"
            "      --resume           continue from the newest checkpoint in DIR\n"
            "      --export FILE      reveal the trained model to one party, as safetensors\n"
            "      --export-to P      the party that receives it (default 0)\n"
            "      --plaintext        float64 reference (no MPC)\n"
            "  -h, --help             this text\n",
            model_names(), IDX_DEFAULT_DIR);
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-' || !s[0]) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !s[0] || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->model = "lenet";
    o->epochs = 1;
    o->hp.batch = 128;
    o->hp.lr = 0.05;
    o->hp.momentum = 0.9;
    o->hp.seed = 1;
    o->frac_bits = 0;   /* SPIN_FRAC_BITS, else 16 (what spin-run's dealer uses) */
    o->loss_every = 10;
    o->ckpt_every = 50;
    enum { O_LR = 256, O_MOM, O_WD, O_TRL, O_TEL, O_LE, O_MET, O_CK, O_CKE, O_RES, O_EXP, O_EXPTO, O_PLAIN, O_SCH };
    static const struct option lo[] = {
        {"model", 1, 0, 'm'}, {"epochs", 1, 0, 'e'}, {"batch", 1, 0, 'b'}, {"lr", 1, 0, O_LR}, {"lr-schedule", 1, 0, O_SCH},
        {"momentum", 1, 0, O_MOM}, {"weight-decay", 1, 0, O_WD}, {"frac-bits", 1, 0, 'f'},
        {"seed", 1, 0, 's'}, {"parties", 1, 0, 'p'}, {"data", 1, 0, 'd'}, {"train-limit", 1, 0, O_TRL},
        {"test-limit", 1, 0, O_TEL}, {"loss-every", 1, 0, O_LE}, {"metrics", 1, 0, O_MET},
        {"checkpoint", 1, 0, O_CK}, {"checkpoint-every", 1, 0, O_CKE}, {"resume", 0, 0, O_RES},
        {"export", 1, 0, O_EXP}, {"export-to", 1, 0, O_EXPTO}, {"plaintext", 0, 0, O_PLAIN},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    size_t v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:e:b:f:s:p:d:h", lo, NULL)) != -1) {
        const char *a = optarg;
        int bad = 0;
        switch (c) {
        case 'm': o->model = a; break;
        case 'e': bad = parse_size(a, &v) || v < 1 || v > 100000; o->epochs = (int)v; break;
        case 'b': bad = parse_size(a, &v) || v < 1 || v > 65536; o->hp.batch = v; break;
        case O_LR: bad = parse_double(a, &o->hp.lr) || o->hp.lr <= 0; break;
        case O_SCH:
            bad = strcmp(a, "constant") && strcmp(a, "cosine");
            o->cosine = !strcmp(a, "cosine");
            break;
        case O_MOM: bad = parse_double(a, &o->hp.momentum) || o->hp.momentum < 0 || o->hp.momentum >= 1; break;
        case O_WD: bad = parse_double(a, &o->hp.weight_decay) || o->hp.weight_decay < 0; break;
        case 'f': bad = parse_size(a, &v) || v < 8 || v > 24; o->frac_bits = (unsigned)v; break;
        case 's': bad = parse_size(a, &v); o->hp.seed = v; break;
        case 'p': bad = parse_size(a, &v) || v < 2 || v > 16; o->parties = (int)v; break;
        case 'd': o->data = a; break;
        case O_TRL: bad = parse_size(a, &o->train_limit) || o->train_limit < 1; break;
        case O_TEL: bad = parse_size(a, &o->test_limit) || o->test_limit < 1; break;
        case O_LE: bad = parse_size(a, &v) || v > 1000000; o->loss_every = (int)v; break;
        case O_MET: o->metrics = a; break;
        case O_CK: o->ckpt_dir = a; break;
        case O_CKE: bad = parse_size(a, &v) || v < 1 || v > 100000000; o->ckpt_every = (int)v; break;
        case O_RES: o->resume = 1; break;
        case O_EXP: o->export_path = a; break;
        case O_EXPTO: bad = parse_size(a, &v) || v > 63; o->export_to = (int)v; break;
        case O_PLAIN: o->plaintext = 1; break;
        case 'h': usage(stdout); exit(0);
        case ':':
            fprintf(stderr, "spin-train: %s needs a value (see --help)\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "spin-train: unknown option %s (see --help)\n", argv[optind - 1]);
            return -1;
        }
        if (bad) {
            /* the flag is the word before a separate value */
            const char *flag = argv[optind - 1] == a && optind >= 2 ? argv[optind - 2] : argv[optind - 1];
            fprintf(stderr, "spin-train: bad value \"%s\" for %s (see --help for the allowed range)\n", a, flag);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spin-train: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -1;
    }
    if (o->resume && !o->ckpt_dir) {
        fprintf(stderr, "spin-train: --resume needs --checkpoint DIR (where the checkpoints are)\n");
        return -1;
    }
    return 0;
}

/* ---- one party's run ------------------------------------------------------ */

typedef struct run {
    const opts_t *o;
    model_spec_t m;
    idx_dataset_t train, test;     /* party 0 only */
    size_t ntrain, ntest;          /* known to every party */
} run_t;

/* Learning rate at global iteration t of T. */
static double lr_at(const opts_t *o, size_t t, size_t T)
{
    if (!o->cosine || T == 0) return o->hp.lr;
    return o->hp.lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)t / (double)T));
}

static void load_batch(const idx_dataset_t *ds, const size_t *idx, size_t B, size_t pix, double *x, uint8_t *y)
{
    for (size_t r = 0; r < B; r++) {
        idx_to_double(ds->images + idx[r] * pix, pix, x + r * pix);
        y[r] = ds->labels[idx[r]];
    }
}

static double evaluate(engine_t *e, const run_t *R, int me, int *rc_out)
{
    size_t B = R->o->hp.batch, pix = 28 * 28, correct = 0, seen = 0;
    double *x = me == 0 ? malloc(B * pix * sizeof *x) : NULL;
    int *pred = malloc(B * sizeof *pred);
    size_t *idx = malloc(B * sizeof *idx);
    uint8_t *y = malloc(B);
    int rc = (me == 0 && !x) || !pred || !idx || !y ? SPIN_ERR_NOMEM : 0;
    for (size_t s = 0; s < R->ntest && !rc; s += B) {
        size_t b = R->ntest - s < B ? R->ntest - s : B;
        for (size_t r = 0; r < b; r++) idx[r] = s + r;
        if (me == 0) load_batch(&R->test, idx, b, pix, x, y);
        rc = e->predict(e, x, b, pred);
        if (!rc && me == 0)
            for (size_t r = 0; r < b; r++) correct += pred[r] == (int)y[r];
        seen += b;
    }
    free(x);
    free(pred);
    free(idx);
    free(y);
    *rc_out = rc;
    return seen ? (double)correct / (double)seen : 0.0;
}

/* A JSON number, or null when not finite (a diverged loss). */
static void json_num(char *buf, size_t len, double v)
{
    if (isfinite(v)) snprintf(buf, len, "%.6g", v);
    else snprintf(buf, len, "null");
}

/* A progress line; "loss X" only when a loss was revealed (have_loss: never
 * with --loss-every 0). */
static void progress(int tty, int epoch, int epochs, size_t it, size_t nit, int have_loss, double loss, double sps,
                     double eta)
{
    char lb[32] = "";
    if (have_loss) snprintf(lb, sizeof lb, " loss %.4f", loss);
    if (tty) {
        int w = 24, done = nit ? (int)((double)w * (double)it / (double)nit) : w;
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < done ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\repoch %d/%d [%s] %zu/%zu%s %.1f samples/s ETA %d:%02d   ", epoch, epochs, bar, it, nit,
                lb, sps, (int)(eta / 60), (int)fmod(eta, 60));
        fflush(stderr);
    } else {
        printf("epoch %d/%d batch %zu/%zu%s %.1f samples/s ETA %.0f s\n", epoch, epochs, it, nit, lb, sps, eta);
        fflush(stdout);
    }
}

static int run_party(spin_ctx_t *ctx, run_t *R)
{
    const opts_t *o = R->o;
    int me = ctx ? spin_ctx_party(ctx) : 0;
    char msg[1600];
    engine_t *e = ctx ? train_secure_new(ctx, &R->m, &o->hp, msg, sizeof msg)
                      : train_plain_new(&R->m, &o->hp, msg, sizeof msg);
    if (!e) {
        fprintf(stderr, "spin-train: party %d: %s\n", me, msg);
        return 1;
    }
    FILE *mf = NULL;
    int rc = 0;
    size_t B = o->hp.batch, nit = R->ntrain / B, pix = 28 * 28;
    unsigned fbits = ctx ? spin_ctx_frac_bits(ctx) : (o->frac_bits ? o->frac_bits : 16);
    if (nit == 0) {
        fprintf(stderr, "spin-train: %zu training images make no full batch of %zu: lower --batch\n", R->ntrain, B);
        e->destroy(e);
        return 1;
    }
    int start_epoch = 0;
    size_t start_it = 0;
    if (o->resume) {
        rc = ckpt_resume(ctx, e, o->ckpt_dir, &R->m, &o->hp, fbits, &start_epoch, &start_it, msg, sizeof msg);
        if (rc) {
            fprintf(stderr, "spin-train: party %d: %s\n", me, msg);
            e->destroy(e);
            return 1;
        }
        if (me == 0) printf("resuming at epoch %d, batch %zu\n", start_epoch + 1, start_it);
    }
    if (me == 0 && o->metrics) {
        mf = fopen(o->metrics, o->resume ? "a" : "w");
        if (!mf) {
            fprintf(stderr, "spin-train: cannot write the metrics file %s: %s\n", o->metrics, strerror(errno));
            e->destroy(e);
            return 1;
        }
        fprintf(mf,
                "{\"type\":\"run\",\"model\":\"%s\",\"parties\":%d,\"plaintext\":%s,\"batch\":%zu,\"lr\":%g,"
                "\"lr_schedule\":\"%s\","
                "\"momentum\":%g,\"weight_decay\":%g,\"frac_bits\":%u,\"seed\":%llu,\"epochs\":%d,"
                "\"train_images\":%zu,\"test_images\":%zu}\n",
                R->m.name, ctx ? spin_ctx_nparties(ctx) : 1, ctx ? "false" : "true", B, o->hp.lr,
                o->cosine ? "cosine" : "constant", o->hp.momentum,
                o->hp.weight_decay, fbits, (unsigned long long)o->hp.seed, o->epochs, R->ntrain, R->ntest);
        fflush(mf);
    }
    int tty = me == 0 && isatty(2);
    size_t *perm = malloc(R->ntrain * sizeof *perm);
    double *x = me == 0 ? malloc(B * pix * sizeof *x) : NULL;
    uint8_t *y = malloc(B);
    if (!perm || (me == 0 && !x) || !y) rc = SPIN_ERR_NOMEM;
    double acc = 0;
    for (int ep = start_epoch; ep < o->epochs && !rc; ep++) {
        train_permutation(o->hp.seed + (uint64_t)ep, R->ntrain, perm);
        memset(e->stats, 0, sizeof e->stats);
        double t_ep = train_now(), lsum = 0, last = NAN;
        int lcount = 0;
        size_t it0 = ep == start_epoch ? start_it : 0;
        for (size_t it = it0; it < nit && !rc; it++) {
            double t0 = train_now();
            uint64_t b0 = e->bytes_sent(e);
            if (me == 0) load_batch(&R->train, perm + it * B, B, pix, x, y);
            int want = o->loss_every > 0 && ((it + 1) % (size_t)o->loss_every == 0 || it + 1 == nit || it == it0);
            double loss = NAN;
            /* the learning rate of this iteration (the same on every party
             * and in --plaintext: a function of the iteration only) */
            e->hp.lr = lr_at(o, ep * nit + it, (size_t)o->epochs * nit);
            rc = e->step(e, x, y, B, want, &loss);
            if (rc) break;
            double dt = train_now() - t0;
            if (me == 0 && want) {
                last = loss;
                lsum += loss;
                lcount++;
                if (mf) {
                    char lb[32];
                    json_num(lb, sizeof lb, loss);
                    fprintf(mf, "{\"type\":\"iter\",\"epoch\":%d,\"iter\":%zu,\"loss\":%s,\"time_s\":%.4f,\"bytes\":%llu}\n",
                            ep + 1, ep * nit + it + 1, lb, dt, (unsigned long long)(e->bytes_sent(e) - b0));
                    fflush(mf);
                }
            }
            if (me == 0 && (tty || want || (o->loss_every == 0 && ((it + 1) % 10 == 0 || it + 1 == nit)))) {
                double el = train_now() - t_ep, sps = (double)((it + 1 - it0) * B) / el;
                progress(tty, ep + 1, o->epochs, it + 1, nit, lcount > 0, last, sps,
                         sps > 0 ? (double)((nit - it - 1) * B) / sps : 0);
            }
            if (o->ckpt_dir && ((it + 1) % (size_t)o->ckpt_every == 0 || it + 1 == nit)) {
                int ne = it + 1 == nit ? ep + 1 : ep;
                size_t ni = it + 1 == nit ? 0 : it + 1;
                rc = ckpt_save(ctx, e, o->ckpt_dir, &R->m, &o->hp, fbits, ne, ni, msg, sizeof msg);
                if (rc) fprintf(stderr, "spin-train: party %d: %s\n", me, msg);
            }
        }
        if (tty) fputc('\n', stderr);
        if (rc) break;
        double t_train = train_now() - t_ep;
        acc = evaluate(e, R, me, &rc);
        if (rc) break;
        if (me == 0) {
            /* No loss was revealed (--loss-every 0): none is printed, and
             * the metrics say null. */
            char tl[48] = "";
            if (lcount) snprintf(tl, sizeof tl, "train loss %.4f, ", lsum / lcount);
            printf("epoch %d/%d: %stest accuracy %.2f%% (%zu images), %.1f s\n", ep + 1, o->epochs, tl, 100.0 * acc,
                   R->ntest, t_train);
            fflush(stdout);
            if (mf) {
                char lb[32];
                json_num(lb, sizeof lb, lcount ? lsum / lcount : NAN);
                fprintf(mf, "{\"type\":\"epoch\",\"epoch\":%d,\"test_acc\":%.6f,\"train_loss\":%s,\"time_s\":%.3f}\n",
                        ep + 1, acc, lb, t_train);
                fprintf(mf, "{\"type\":\"layers\",\"epoch\":%d,\"layers\":[", ep + 1);
                for (int i = 0; i < R->m.nl; i++)
                    fprintf(mf, "%s{\"name\":\"%s\",\"fwd_s\":%.4f,\"bwd_s\":%.4f,\"fwd_bytes\":%llu,\"bwd_bytes\":%llu}",
                            i ? "," : "", R->m.L[i].name, e->stats[i].fwd_s, e->stats[i].bwd_s,
                            (unsigned long long)e->stats[i].fwd_bytes, (unsigned long long)e->stats[i].bwd_bytes);
                fprintf(mf, "]}\n");
                fflush(mf);
            }
        }
    }
    if (!rc && o->export_path) {
        rc = export_model(ctx, e, &R->m, o->export_to, o->export_path, msg, sizeof msg);
        if (rc) fprintf(stderr, "spin-train: party %d: %s\n", me, msg);
        else if (me == o->export_to) printf("model written to %s (party %d only)\n", o->export_path, me);
    }
    if (!rc && me == 0)
        printf("final test accuracy: %.2f%% (%s %s, %d epoch(s), batch %zu)\n", 100.0 * acc,
               ctx ? "secure" : "plaintext", R->m.name, o->epochs, B);
    if (rc && rc != 1) fprintf(stderr, "spin-train: party %d stopped: %s\n", me, spin_strerror(rc));
    if (mf) fclose(mf);
    free(perm);
    free(x);
    free(y);
    e->destroy(e);
    return rc ? 1 : 0;
}

/* Party 0 tells everyone the set sizes (public metadata). */
static int agree_sizes(spin_ctx_t *ctx, run_t *R)
{
    double v[2] = {(double)R->ntrain, (double)R->ntest}, out[2];
    size_t sh = 2;
    spin_tensor_t *t;
    int rc = spin_input_f64(ctx, 0, spin_ctx_party(ctx) == 0 ? v : NULL, 1, &sh, &t);
    if (!rc) rc = spin_reveal_f64(ctx, t, -1, out);
    spin_tensor_free(t);
    if (!rc) {
        R->ntrain = (size_t)llround(out[0]);
        R->ntest = (size_t)llround(out[1]);
    }
    return rc;
}

static int load_data(const opts_t *o, run_t *R)
{
    idx_error_t err;
    idx_dataset_opts_t d = {o->data, "train", 10, 28, 28};
    if (idx_dataset_load(&d, &R->train, &err) != IDX_OK) {
        fprintf(stderr, "spin-train: %s\n", err.msg);
        return -1;
    }
    d.split = "test";
    if (idx_dataset_load(&d, &R->test, &err) != IDX_OK) {
        fprintf(stderr, "spin-train: %s\n", err.msg);
        idx_dataset_free(&R->train);
        return -1;
    }
    R->ntrain = o->train_limit && o->train_limit < R->train.n ? o->train_limit : R->train.n;
    R->ntest = o->test_limit && o->test_limit < R->test.n ? o->test_limit : R->test.n;
    return 0;
}

typedef struct thread_arg {
    const opts_t *o;
    run_t *R0;   /* party 0's data */
    int rcs[64];
} thread_arg_t;

static int party_fn(spin_ctx_t *ctx, int party, void *arg)
{
    thread_arg_t *ta = arg;
    run_t R;
    memset(&R, 0, sizeof R);
    R.o = ta->o;
    R.m = ta->R0->m;
    if (party == 0) {
        R.train = ta->R0->train;
        R.test = ta->R0->test;
        R.ntrain = ta->R0->ntrain;
        R.ntest = ta->R0->ntest;
    }
    int rc = agree_sizes(ctx, &R);
    if (rc) {
        fprintf(stderr, "spin-train: party %d: cannot agree on the data sizes: %s\n", party, spin_strerror(rc));
        return rc;
    }
    rc = run_party(ctx, &R);
    return rc ? SPIN_ERR_INTERNAL : 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_opts(argc, argv, &o)) return 2;
    run_t R;
    memset(&R, 0, sizeof R);
    R.o = &o;
    char msg[512];
    if (model_build(o.model, &R.m, msg, sizeof msg)) {
        fprintf(stderr, "spin-train: %s\n", msg);
        return 2;
    }
    if (o.ckpt_dir && ckpt_dir_prepare(o.ckpt_dir, msg, sizeof msg)) {
        fprintf(stderr, "spin-train: %s\n", msg);
        return 1;
    }
    int rc;
    if (o.plaintext) {
        if (load_data(&o, &R)) return 1;
        rc = run_party(NULL, &R);
        idx_dataset_free(&R.train);
        idx_dataset_free(&R.test);
        return rc;
    }
    const char *envp = getenv("SPIN_PARTY");
    if (o.parties && !(envp && *envp)) {
        /* all parties and the dealer as threads of this process */
        if (load_data(&o, &R)) return 1;
        thread_arg_t ta;
        memset(&ta, 0, sizeof ta);
        ta.o = &o;
        ta.R0 = &R;
        spin_ctx_opts_t co;
        memset(&co, 0, sizeof co);
        co.struct_size = sizeof co;
        co.frac_bits = o.frac_bits;
        rc = spin_run_local(o.parties, "ipc", &co, party_fn, &ta);
        idx_dataset_free(&R.train);
        idx_dataset_free(&R.test);
        if (rc) fprintf(stderr, "spin-train: the secure run failed: %s\n", spin_strerror(rc));
        return rc ? 1 : 0;
    }
    if (!(envp && *envp)) {
        fprintf(stderr, "spin-train: no party id: start it under spin-run (spin-run -n 2 spin-train ...), "
                        "or pass --parties N to run every party here, or --plaintext\n");
        return 2;
    }
    spin_ctx_opts_t co;
    memset(&co, 0, sizeof co);
    co.struct_size = sizeof co;
    co.party = -1;
    co.frac_bits = o.frac_bits;
    spin_ctx_t *ctx;
    rc = spin_ctx_open(&co, &ctx);
    if (rc) {
        fprintf(stderr, "spin-train: cannot join the computation: %s\n", spin_strerror(rc));
        return 1;
    }
    if (o.parties && o.parties != spin_ctx_nparties(ctx)) {
        fprintf(stderr, "spin-train: --parties %d, but spin-run started %d parties\n", o.parties,
                spin_ctx_nparties(ctx));
        spin_ctx_close(ctx);
        return 2;
    }
    int me = spin_ctx_party(ctx);
    int ok = me != 0 || load_data(&o, &R) == 0;
    /* everyone learns whether party 0 has its data (no hang if not) */
    double flag = ok ? 1.0 : 0.0, got = 0;
    size_t one = 1;
    spin_tensor_t *t = NULL;
    rc = spin_input_f64(ctx, 0, me == 0 ? &flag : NULL, 1, &one, &t);
    if (!rc) rc = spin_reveal_f64(ctx, t, -1, &got);
    spin_tensor_free(t);
    if (!rc && got < 0.5) {
        if (me != 0) fprintf(stderr, "spin-train: party %d: party 0 could not load the data; stopping\n", me);
        spin_ctx_close(ctx);
        return 1;
    }
    if (!rc) rc = agree_sizes(ctx, &R);
    if (rc) {
        fprintf(stderr, "spin-train: party %d: %s\n", me, spin_strerror(rc));
        spin_ctx_close(ctx);
        return 1;
    }
    rc = run_party(ctx, &R);
    spin_ctx_close(ctx);
    idx_dataset_free(&R.train);
    idx_dataset_free(&R.test);
    return rc;
}
