/* report.h - spin-report's two halves: report_data.c reads a metrics file
 * (JSON lines, the format in apps/README.md) into a metrics_t, report_svg.c
 * draws one as an SVG; spin-report.c holds the options and the output file. */
#ifndef SPIN_REPORT_H
#define SPIN_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "json.h"

#define PROG "spin-report"

typedef struct { double epoch, iter, loss, time_s, bytes; int has_epoch, has_loss; } iter_rec_t;
typedef struct { double epoch, test_acc, train_loss, time_s; int has_acc, has_train_loss, has_time; } epoch_rec_t;
typedef struct { char *name; double fwd_s, bwd_s, fwd_bytes, bwd_bytes; } layer_rec_t;

/* A whole metrics file; zero it before metrics_read. */
typedef struct {
    iter_rec_t *iters;
    size_t n_iters, cap_iters;
    epoch_rec_t *epochs;
    size_t n_epochs, cap_epochs;
    layer_rec_t *layers;        /* from the last "layers" record */
    size_t n_layers;
    double layers_epoch;
    int has_layers, has_layers_epoch;
    json_t *run;                /* the first "run" record (NULL if none) */
    size_t records;
    char *unknown_types[8];     /* record types warned about once */
    size_t n_unknown;
} metrics_t;

/* Read the metrics file at path ("-": standard input).  0, or 1 after
 * printing an error that names the file and the line. */
int metrics_read(const char *path, metrics_t *m);
void metrics_free(metrics_t *m);

/* The SVG of m (title NULL: from the run's model).  0, or -1 on a write
 * error (errno set). */
int report_write_svg(FILE *f, const metrics_t *m, const char *title);

#endif
