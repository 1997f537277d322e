/* spin-report - draws a metrics file (JSON lines, written by spin-train; the
 * format is in apps/README.md) as one SVG: the loss per iteration, the test
 * accuracy per epoch, and per-layer forward/backward time and bytes.
 *
 * This file: the options and the output file (a temporary file renamed into
 * place).  report_data.c reads the metrics (through libspinapp's json.c),
 * report_svg.c draws them.  Malformed input is an error naming the file, the
 * line and what is wrong (exit 1); fields and record types it does not know
 * are ignored.  Wrong arguments: exit 2. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [--title TEXT] METRICS.jsonl -o REPORT.svg\n"
            "Draws the metrics file of a training run (one JSON object per line, as\n"
            "spin-train writes it; format in apps/README.md) as an SVG for a browser:\n"
            "the loss per iteration, the test accuracy per epoch, and the forward and\n"
            "backward time and bytes of every layer.\n"
            "  METRICS.jsonl     the metrics file (- for standard input)\n"
            "  -o, --output FILE the SVG to write (- for standard output)\n"
            "  --title TEXT      the report's title (default: the model's name)\n"
            "  -h, --help        this text\n"
            "Exit status: 0 report written, 1 unreadable or malformed metrics or a\n"
            "write error (the message names the line), 2 wrong arguments.\n");
}

/* Write to path through a temporary file and rename, so that a failure never
 * leaves half a report. 0 or 1 (message printed). */
static int output(const char *path, const metrics_t *m, const char *title)
{
    if (strcmp(path, "-") == 0) {
        if (report_write_svg(stdout, m, title) || fflush(stdout)) {
            fprintf(stderr, PROG ": cannot write the SVG to standard output: %s\n", strerror(errno));
            return 1;
        }
        return 0;
    }
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp) { fprintf(stderr, PROG ": out of memory\n"); return 1; }
    snprintf(tmp, len, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, PROG ": %s: cannot create: %s\n", path, strerror(errno));
        free(tmp);
        return 1;
    }
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    FILE *f = fdopen(fd, "w");
    int rc = !f || report_write_svg(f, m, title) != 0;
    int e = errno;
    if (f && fclose(f) != 0 && !rc) { rc = 1; e = errno; }
    if (!f) close(fd);
    if (!rc && rename(tmp, path) != 0) { rc = 1; e = errno; }
    if (rc) {
        fprintf(stderr, PROG ": %s: cannot write: %s\n", path, strerror(e));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *title = NULL;
    int only_args = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) { only_args = 1; continue; }
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                usage(stdout);
                return 0;
            }
            const char *val = NULL;
            int is_out = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0;
            int is_title = strcmp(a, "--title") == 0;
            if (strncmp(a, "--output=", 9) == 0) { is_out = 1; val = a + 9; }
            else if (strncmp(a, "--title=", 8) == 0) { is_title = 1; val = a + 8; }
            else if (strncmp(a, "-o", 2) == 0 && a[2]) { is_out = 1; val = a + 2; }
            if (!is_out && !is_title) {
                fprintf(stderr, PROG ": unknown option \"%s\"\n", a);
                usage(stderr);
                return 2;
            }
            if (!val) {
                if (i + 1 >= argc) {
                    fprintf(stderr, PROG ": option %s needs %s\n", a, is_out ? "a file name (REPORT.svg, or - for standard output)" : "a text");
                    return 2;
                }
                val = argv[++i];
            }
            if (is_out) {
                if (!*val) { fprintf(stderr, PROG ": option %s needs a file name, got an empty one\n", a); return 2; }
                out = val;
            } else {
                title = val;
            }
            continue;
        }
        if (in) {
            fprintf(stderr, PROG ": more than one metrics file (\"%s\", \"%s\"): give one\n", in, a);
            usage(stderr);
            return 2;
        }
        in = a;
    }
    if (!in) {
        fprintf(stderr, PROG ": missing the metrics file\n");
        usage(stderr);
        return 2;
    }
    if (!out) {
        fprintf(stderr, PROG ": no output file: pass -o REPORT.svg (or -o - for standard output)\n");
        usage(stderr);
        return 2;
    }
    metrics_t m;
    memset(&m, 0, sizeof m);
    int rc = metrics_read(in, &m);
    if (rc == 0) rc = output(out, &m, title);
    metrics_free(&m);
    return rc;
}
