/* report_svg.c - spin-report's drawing: a metrics_t as one SVG (a header
 * with the run's settings and totals, the loss per iteration or per epoch,
 * the test accuracy per epoch, per-layer time and bytes as bars).  Drawn
 * into memory first, since the height depends on the number of layers. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define W 960.0
#define PAD_L 80.0
#define PAD_R 30.0
#define C_LOSS "#1f77b4"
#define C_TRAIN "#d62728"
#define C_ACC "#2ca02c"
#define C_FWD "#4e79a7"
#define C_BWD "#f28e2b"
#define C_GRID "#e5e5e5"
#define C_AXIS "#444"

/* XML-escaped text; characters XML 1.0 forbids become '?'.  At most max
 * characters (code points), with an ellipsis when cut (max 0: no limit). */
static void xml_text(FILE *f, const char *s, size_t max)
{
    size_t chars = 0;
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if ((*u & 0xC0) != 0x80) {
            if (max && chars == max) { fputs("\xE2\x80\xA6", f); return; }
            chars++;
        }
        switch (*u) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (*u < 0x20 && *u != '\t') fputc('?', f);
            else if (*u == 0xEF && u[1] == 0xBF && (u[2] == 0xBE || u[2] == 0xBF)) { fputc('?', f); u += 2; }
            else fputc(*u, f);
        }
    }
}

/* A number for a label: plain digits in the usual ranges (200000, 0.0025),
 * no trailing zeros; exponents only for very large or small values. */
static const char *fmt_num(double v, char *buf, size_t len)
{
    if (fabs(v) < 1e-12) v = 0;
    double a = fabs(v);
    snprintf(buf, len, a == 0 || (a >= 1e-4 && a < 1e7) ? "%.6g" : "%.3g", v);
    return buf;
}

/* Bytes in IEC units. */
static const char *fmt_bytes(double b, char *buf, size_t len)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (b >= 1024 && i < 5) { b /= 1024; i++; }
    snprintf(buf, len, i ? "%.3g %s" : "%.0f %s", b, u[i]);
    return buf;
}

static const char *fmt_time(double s, char *buf, size_t len)
{
    if (s >= 3600) snprintf(buf, len, "%.0fh %02.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
    else if (s >= 60) snprintf(buf, len, "%.0fm %02.0fs", floor(s / 60), fmod(s, 60));
    else if (s >= 1 || s == 0) snprintf(buf, len, "%.3g s", s);
    else snprintf(buf, len, "%.3g ms", s * 1e3);
    return buf;
}

static double nicenum(double x, int round_)
{
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

typedef struct { double lo, hi, step; } axis_t;

/* Ticks over [lo, hi]; expand: widen lo/hi to whole steps; integer: steps >= 1. */
static axis_t make_axis(double lo, double hi, int ticks, int expand, int integer)
{
    axis_t a;
    if (!(hi > lo)) {
        double pad = integer ? 1 : (fabs(lo) > 0 ? fabs(lo) * 0.1 : 1);
        lo -= pad;
        hi += pad;
    }
    a.step = nicenum(nicenum(hi - lo, 0) / (ticks - 1), 1);
    if (integer && a.step < 1) a.step = 1;
    if (expand) {
        lo = floor(lo / a.step) * a.step;
        hi = ceil(hi / a.step) * a.step;
    }
    a.lo = lo;
    a.hi = hi;
    return a;
}

typedef struct { double x0, y0, w, h; axis_t x, y; } frame_t;

static double fx(const frame_t *fr, double x) { return fr->x0 + (x - fr->x.lo) / (fr->x.hi - fr->x.lo) * fr->w; }
static double fy(const frame_t *fr, double y) { return fr->y0 + fr->h - (y - fr->y.lo) / (fr->y.hi - fr->y.lo) * fr->h; }

/* Grid, ticks, tick labels and axis titles of a plot. */
static void draw_frame(FILE *f, const frame_t *fr, const char *xlabel, const char *ylabel)
{
    char b[64];
    fprintf(f, "<g class=\"axes\" font-size=\"11\" fill=\"%s\">\n", C_AXIS);
    for (int i = 0;; i++) {
        double v = ceil(fr->y.lo / fr->y.step - 1e-9) * fr->y.step + i * fr->y.step;
        if (v > fr->y.hi + fr->y.step * 1e-9) break;
        double y = fy(fr, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", fr->x0, y,
                fr->x0 + fr->w, y, C_GRID);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", fr->x0 - 6, y + 4,
                fmt_num(v, b, sizeof b));
    }
    for (int i = 0;; i++) {
        double v = ceil(fr->x.lo / fr->x.step - 1e-9) * fr->x.step + i * fr->x.step;
        if (v > fr->x.hi + fr->x.step * 1e-9) break;
        double x = fx(fr, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x, fr->y0 + fr->h,
                x, fr->y0 + fr->h + 4, C_AXIS);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", x, fr->y0 + fr->h + 16,
                fmt_num(v, b, sizeof b));
    }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"%s\"/>\n",
            fr->x0, fr->y0, fr->w, fr->h, C_AXIS);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", fr->x0 + fr->w / 2, fr->y0 + fr->h + 32);
    xml_text(f, xlabel, 0);
    fprintf(f, "</text>\n<text transform=\"translate(%.2f %.2f) rotate(-90)\" text-anchor=\"middle\">",
            fr->x0 - 52, fr->y0 + fr->h / 2);
    xml_text(f, ylabel, 0);
    fputs("</text>\n</g>\n", f);
}

static void panel_title(FILE *f, double y, const char *title)
{
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"15\" font-weight=\"bold\">", PAD_L, y);
    xml_text(f, title, 0);
    fputs("</text>\n", f);
}

static void no_data(FILE *f, double y, double h, const char *what)
{
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#fafafa\" stroke=\"%s\"/>\n",
            PAD_L, y, W - PAD_L - PAD_R, h, C_GRID);
    fprintf(f, "<text class=\"no-data\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#888\">", W / 2,
            y + h / 2);
    xml_text(f, what, 0);
    fputs("</text>\n", f);
}

/* The loss panel, at y; returns its height. */
static double draw_loss(FILE *f, const metrics_t *m, double y)
{
    const double h = 240;
    fputs("<g id=\"loss\">\n", f);
    size_t npts = 0;
    for (size_t i = 0; i < m->n_iters; i++) npts += m->iters[i].has_loss;
    size_t ntrain = 0;
    for (size_t i = 0; i < m->n_epochs; i++) ntrain += m->epochs[i].has_train_loss;
    if (npts == 0 && ntrain == 0) {
        panel_title(f, y + 18, "Training loss");
        no_data(f, y + 30, h - 80, "no loss in the metrics file (no \"iter\" records with a loss)");
        fputs("</g>\n", f);
        return h;
    }
    int by_iter = npts > 0;
    panel_title(f, y + 18, by_iter ? "Training loss per iteration" : "Training loss per epoch");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < m->n_iters; i++)
        if (m->iters[i].has_loss) { lo = fmin(lo, m->iters[i].loss); hi = fmax(hi, m->iters[i].loss); }
    for (size_t i = 0; i < m->n_epochs; i++)
        if (m->epochs[i].has_train_loss) {
            lo = fmin(lo, m->epochs[i].train_loss);
            hi = fmax(hi, m->epochs[i].train_loss);
        }
    frame_t fr = {PAD_L, y + 30, W - PAD_L - PAD_R, h - 80, {0, 0, 0}, make_axis(lo, hi, 6, 1, 0)};
    if (by_iter) fr.x = make_axis(1, (double)m->n_iters, 10, 0, 1);
    else {
        double elo = INFINITY, ehi = -INFINITY;
        for (size_t i = 0; i < m->n_epochs; i++)
            if (m->epochs[i].has_train_loss) { elo = fmin(elo, m->epochs[i].epoch); ehi = fmax(ehi, m->epochs[i].epoch); }
        fr.x = make_axis(elo, ehi, 10, 0, 1);
    }
    draw_frame(f, &fr, by_iter ? "iteration (\"iter\" records in file order)" : "epoch", "loss");
    if (by_iter) {
        /* Epoch boundaries: where the epoch number changes. */
        double last_label = -1e9;
        for (size_t i = 1; i < m->n_iters; i++) {
            const iter_rec_t *a = &m->iters[i - 1], *b = &m->iters[i];
            if (!a->has_epoch || !b->has_epoch || a->epoch == b->epoch) continue;
            double x = fx(&fr, (double)i + 0.5);
            fprintf(f, "<line class=\"epoch-mark\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#bbb\" "
                    "stroke-dasharray=\"4 3\"/>\n", x, fr.y0, x, fr.y0 + fr.h);
            if (x - last_label > 50) {
                char nb[32];
                fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"#888\">epoch %s</text>\n", x + 3,
                        fr.y0 + 11, fmt_num(b->epoch, nb, sizeof nb));
                last_label = x;
            }
        }
        /* At most ~2 points per pixel: average buckets of iterations. */
        size_t per = m->n_iters / (size_t)(fr.w * 2) + 1, nbk = (m->n_iters + per - 1) / per;
        double *bx = malloc(nbk * sizeof *bx), *by = malloc(nbk * sizeof *by);
        if (bx && by) {
            for (size_t k = 0; k < nbk; k++) {
                double sum = 0, xs = 0;
                size_t cnt = 0;
                for (size_t j = k * per; j < (k + 1) * per && j < m->n_iters; j++)
                    if (m->iters[j].has_loss) { sum += m->iters[j].loss; xs += (double)j + 1; cnt++; }
                bx[k] = cnt ? xs / (double)cnt : NAN;   /* NAN: no loss here, the line breaks */
                by[k] = cnt ? sum / (double)cnt : NAN;
            }
            fputs("<path class=\"loss-line\" fill=\"none\" stroke=\"" C_LOSS "\" stroke-width=\"1.5\" d=\"", f);
            int pen = 0, first = 1;
            for (size_t k = 0; k < nbk; k++) {
                if (isnan(by[k])) { pen = 0; continue; }
                fprintf(f, "%s%.2f %.2f", pen ? " L" : first ? "M" : " M", fx(&fr, bx[k]), fy(&fr, by[k]));
                pen = 1;
                first = 0;
            }
            fputs("\"/>\n", f);
            /* A point with no neighbour draws no line: a dot instead. */
            for (size_t k = 0; k < nbk; k++)
                if (!isnan(by[k]) && (k == 0 || isnan(by[k - 1])) && (k + 1 == nbk || isnan(by[k + 1])))
                    fprintf(f, "<circle class=\"loss-dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"2\" fill=\"" C_LOSS "\"/>\n",
                            fx(&fr, bx[k]), fy(&fr, by[k]));
        }
        free(bx);
        free(by);
        /* The epoch means (train_loss) at the last iteration of their epoch. */
        for (size_t e = 0; e < m->n_epochs; e++) {
            if (!m->epochs[e].has_train_loss) continue;
            size_t at = 0;
            for (size_t i = 0; i < m->n_iters; i++)
                if (m->iters[i].has_epoch && m->iters[i].epoch == m->epochs[e].epoch) at = i + 1;
            if (!at) continue;
            char nb[32];
            fprintf(f, "<circle class=\"train-loss-point\" cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"" C_TRAIN
                    "\"><title>epoch %s: train loss ", fx(&fr, (double)at), fy(&fr, m->epochs[e].train_loss),
                    fmt_num(m->epochs[e].epoch, nb, sizeof nb));
            fprintf(f, "%s</title></circle>\n", fmt_num(m->epochs[e].train_loss, nb, sizeof nb));
        }
    } else {
        fputs("<path class=\"loss-line\" fill=\"none\" stroke=\"" C_TRAIN "\" stroke-width=\"1.5\" d=\"", f);
        int first = 1;
        for (size_t e = 0; e < m->n_epochs; e++) {
            if (!m->epochs[e].has_train_loss) continue;
            fprintf(f, "%s%.2f %.2f", first ? "M" : " L", fx(&fr, m->epochs[e].epoch), fy(&fr, m->epochs[e].train_loss));
            first = 0;
        }
        fputs("\"/>\n", f);
    }
    /* Legend. */
    double lx = fr.x0 + fr.w - 230, ly = y + 14;
    if (by_iter) {
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"" C_LOSS "\" stroke-width=\"2\"/>"
                "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">iteration loss</text>\n", lx, ly, lx + 18, ly,
                lx + 22, ly + 4);
        if (ntrain)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"" C_TRAIN "\"/>"
                    "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">epoch train loss</text>\n", lx + 115, ly,
                    lx + 122, ly + 4);
    }
    fputs("</g>\n", f);
    return h;
}

static double draw_accuracy(FILE *f, const metrics_t *m, double y)
{
    const double h = 220;
    fputs("<g id=\"accuracy\">\n", f);
    panel_title(f, y + 18, "Test accuracy per epoch");
    size_t n = 0;
    double lo = INFINITY, hi = -INFINITY, elo = INFINITY, ehi = -INFINITY;
    for (size_t i = 0; i < m->n_epochs; i++) {
        const epoch_rec_t *e = &m->epochs[i];
        if (!e->has_acc) continue;
        n++;
        lo = fmin(lo, e->test_acc * 100);
        hi = fmax(hi, e->test_acc * 100);
        elo = fmin(elo, e->epoch);
        ehi = fmax(ehi, e->epoch);
    }
    if (n == 0) {
        no_data(f, y + 30, h - 80, "no test accuracy in the metrics file (no \"epoch\" records with test_acc)");
        fputs("</g>\n", f);
        return h;
    }
    /* Some room around the data, within 0..100 %. */
    double pad = fmax((hi - lo) * 0.1, 1);
    axis_t ya = make_axis(fmax(lo - pad, 0), fmin(hi + pad, 100), 6, 1, 0);
    if (ya.lo < 0) ya.lo = 0;
    if (ya.hi > 100) ya.hi = 100;
    frame_t fr = {PAD_L, y + 30, W - PAD_L - PAD_R, h - 80, make_axis(elo, ehi, 10, 0, 1), ya};
    if (fr.x.lo == elo) { fr.x.lo -= 0.5; }
    if (fr.x.hi == ehi) { fr.x.hi += 0.5; }
    draw_frame(f, &fr, "epoch", "test accuracy (%)");
    fputs("<path class=\"acc-line\" fill=\"none\" stroke=\"" C_ACC "\" stroke-width=\"2\" d=\"", f);
    int first = 1;
    for (size_t i = 0; i < m->n_epochs; i++) {
        const epoch_rec_t *e = &m->epochs[i];
        if (!e->has_acc) continue;
        fprintf(f, "%s%.2f %.2f", first ? "M" : " L", fx(&fr, e->epoch), fy(&fr, e->test_acc * 100));
        first = 0;
    }
    fputs("\"/>\n", f);
    for (size_t i = 0; i < m->n_epochs; i++) {
        const epoch_rec_t *e = &m->epochs[i];
        if (!e->has_acc) continue;
        char nb[32], ab[32];
        double cx = fx(&fr, e->epoch), cy = fy(&fr, e->test_acc * 100);
        fprintf(f, "<circle class=\"acc-point\" cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"" C_ACC "\">"
                "<title>epoch %s: %.2f %%</title></circle>\n", cx, cy, fmt_num(e->epoch, nb, sizeof nb),
                e->test_acc * 100);
        if (n <= 25) {
            snprintf(ab, sizeof ab, "%.2f", e->test_acc * 100);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" text-anchor=\"middle\" fill=\"#333\">%s</text>\n",
                    cx, cy - 7, ab);
        }
    }
    fputs("</g>\n", f);
    return h;
}

/* One horizontal bar chart of the layers: fwd and bwd per layer. */
static void layer_bars(FILE *f, const metrics_t *m, double x0, double y0, double w, int bytes)
{
    double max = 0, scale = 1;
    const char *unit = bytes ? "B" : "s";
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer_rec_t *l = &m->layers[i];
        max = fmax(max, bytes ? fmax(l->fwd_bytes, l->bwd_bytes) : fmax(l->fwd_s, l->bwd_s));
    }
    if (bytes) {
        static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int k = 0;
        while (max / scale >= 1024 && k < 4) { scale *= 1024; k++; }
        unit = u[k];
    } else if (max > 0 && max < 1) {
        scale = 1e-3;
        unit = "ms";
    }
    const double row = 24, h = row * (double)m->n_layers;
    frame_t fr = {x0, y0, w, h, make_axis(0, max > 0 ? max / scale : 1, 5, 1, 0), {0, 1, 1}};
    char label[64];
    snprintf(label, sizeof label, "%s per layer (%s)", bytes ? "communication" : "time", unit);
    /* x axis only (the layer names are the y axis). */
    char b[64];
    fprintf(f, "<g class=\"axes\" font-size=\"11\" fill=\"%s\">\n", C_AXIS);
    for (int i = 0;; i++) {
        double v = fr.x.lo + i * fr.x.step;
        if (v > fr.x.hi + fr.x.step * 1e-9) break;
        double x = fx(&fr, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x, y0, x, y0 + h, C_GRID);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", x, y0 + h + 15,
                fmt_num(v, b, sizeof b));
    }
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x0, y0, x0, y0 + h, C_AXIS);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n</g>\n", x0 + w / 2, y0 + h + 31, label);
    const char *cls = bytes ? "bytes" : "time";
    for (size_t i = 0; i < m->n_layers; i++) {
        const layer_rec_t *l = &m->layers[i];
        double fv = bytes ? l->fwd_bytes : l->fwd_s, bv = bytes ? l->bwd_bytes : l->bwd_s;
        double ry = y0 + row * (double)i + 3;
        char t1[48], t2[48];
        fprintf(f, "<rect class=\"bar-fwd-%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"8\" fill=\"" C_FWD "\">"
                "<title>", cls, x0, ry, fx(&fr, fv / scale) - x0);
        xml_text(f, l->name, 0);
        fprintf(f, " forward: %s</title></rect>\n", bytes ? fmt_bytes(fv, t1, sizeof t1) : fmt_time(fv, t1, sizeof t1));
        fprintf(f, "<rect class=\"bar-bwd-%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"8\" fill=\"" C_BWD "\">"
                "<title>", cls, x0, ry + 9, fx(&fr, bv / scale) - x0);
        xml_text(f, l->name, 0);
        fprintf(f, " backward: %s</title></rect>\n", bytes ? fmt_bytes(bv, t2, sizeof t2) : fmt_time(bv, t2, sizeof t2));
    }
}

static double draw_layers(FILE *f, const metrics_t *m, double y)
{
    fputs("<g id=\"layers\">\n", f);
    char title[96], nb[32];
    if (m->has_layers && m->has_layers_epoch)
        snprintf(title, sizeof title, "Per-layer time and communication (epoch %s)", fmt_num(m->layers_epoch, nb, sizeof nb));
    else
        snprintf(title, sizeof title, "Per-layer time and communication");
    panel_title(f, y + 18, title);
    if (m->n_layers == 0) {
        no_data(f, y + 30, 80, m->has_layers ? "the \"layers\" record lists no layers"
                                              : "no per-layer data in the metrics file (no \"layers\" record)");
        fputs("</g>\n", f);
        return 130;
    }
    /* Legend. */
    double ly = y + 14, lx = W - PAD_R - 200;
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"8\" fill=\"" C_FWD "\"/>"
            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">forward</text>\n", lx, ly - 6, lx + 16, ly + 2);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"8\" fill=\"" C_BWD "\"/>"
            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">backward</text>\n", lx + 80, ly - 6, lx + 96, ly + 2);
    const double names_w = 130, gap = 40, top = y + 34;
    const double cw = (W - PAD_R - 10 - names_w - gap) / 2;
    for (size_t i = 0; i < m->n_layers; i++) {
        fprintf(f, "<text class=\"layer-name\" x=\"%.2f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\">",
                10 + names_w - 6, top + 24 * (double)i + 15);
        xml_text(f, m->layers[i].name, 18);
        fputs("</text>\n", f);
    }
    layer_bars(f, m, 10 + names_w, top, cw, 0);
    layer_bars(f, m, 10 + names_w + cw + gap, top, cw, 1);
    fputs("</g>\n", f);
    return 34 + 24 * (double)m->n_layers + 50;
}

/* Title and one line about the run. */
static double draw_header(FILE *f, const metrics_t *m, const char *title)
{
    const json_t *model = json_get(m->run, "model");
    fputs("<g id=\"header\">\n<text x=\"20\" y=\"30\" font-size=\"20\" font-weight=\"bold\">", f);
    if (title) xml_text(f, title, 0);
    else {
        fputs("Spin training report", f);
        if (model && model->type == JSON_STR) {
            fputs(": ", f);
            xml_text(f, model->str, 60);
        }
    }
    fputs("</text>\n", f);
    /* Every scalar of the run record, in file order. */
    fputs("<text class=\"run\" x=\"20\" y=\"52\" font-size=\"12\" fill=\"#333\">", f);
    int any = 0;
    for (size_t i = 0; m->run && i < m->run->n && i < 16; i++) {
        const char *k = m->run->keys[i];
        const json_t *v = m->run->items[i];
        if (strcmp(k, "type") == 0 || v->type == JSON_ARR || v->type == JSON_OBJ || v->type == JSON_NULL) continue;
        if (json_get(m->run, k) != v) continue;   /* a duplicate: the last one shows */
        char nb[40];
        fputs(any ? "  \xC2\xB7  " : "", f);
        xml_text(f, k, 24);
        fputs(" ", f);
        if (v->type == JSON_STR) xml_text(f, v->str, 40);
        else if (v->type == JSON_BOOL) fputs(v->num != 0 ? "true" : "false", f);
        else fputs(fmt_num(v->num, nb, sizeof nb), f);
        any = 1;
    }
    if (!any) fputs("(no \"run\" record)", f);
    fputs("</text>\n", f);
    /* Totals. */
    double t = 0, bytes = 0, last_acc = -1, last_epoch = 0;
    int have_t = 0;
    for (size_t i = 0; i < m->n_epochs; i++) {
        if (m->epochs[i].has_time) { t += m->epochs[i].time_s; have_t = 1; }
        if (m->epochs[i].has_acc) { last_acc = m->epochs[i].test_acc; last_epoch = m->epochs[i].epoch; }
    }
    for (size_t i = 0; i < m->n_iters; i++) bytes += m->iters[i].bytes;
    if (!have_t)
        for (size_t i = 0; i < m->n_iters; i++) { t += m->iters[i].time_s; have_t |= m->iters[i].time_s > 0; }
    char tb[48], bb[48], nb[32];
    fprintf(f, "<text class=\"totals\" x=\"20\" y=\"70\" font-size=\"12\" fill=\"#333\">%zu iterations, %zu epochs",
            m->n_iters, m->n_epochs);
    if (have_t) fprintf(f, "  \xC2\xB7  time %s", fmt_time(t, tb, sizeof tb));
    if (bytes > 0) fprintf(f, "  \xC2\xB7  sent %s", fmt_bytes(bytes, bb, sizeof bb));
    if (last_acc >= 0)
        fprintf(f, "  \xC2\xB7  test accuracy %.2f %% (epoch %s)", last_acc * 100, fmt_num(last_epoch, nb, sizeof nb));
    fputs("</text>\n</g>\n", f);
    return 84;
}

int report_write_svg(FILE *f, const metrics_t *m, const char *title)
{
    /* The height depends on the number of layers: draw into memory first. */
    char *body = NULL;
    size_t blen = 0;
    FILE *mf = open_memstream(&body, &blen);
    if (!mf) return -1;
    double y = draw_header(mf, m, title);
    y += draw_loss(mf, m, y);
    y += draw_accuracy(mf, m, y);
    y += draw_layers(mf, m, y);
    if (fclose(mf) != 0) { free(body); return -1; }
    double h = ceil(y + 10);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n", W, h, W, h);
    fwrite(body, 1, blen, f);
    fputs("</svg>\n", f);
    free(body);
    return ferror(f) ? -1 : 0;
}
