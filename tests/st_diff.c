/* st_diff A B TOL - compare two safetensors files tensor by tensor (as
 * doubles, through apps/lib/safetensors.c): both must hold the same names with
 * the same shapes.  Prints, per tensor of A, the largest |a - b| and where
 * it is; exits 0 when every difference is <= TOL, 1 when one is larger, 2
 * on bad arguments or unreadable files (the message names the file and the
 * tensor).  spin-train.test uses it to hold a secure run's exported weights
 * against the --plaintext reference of the same run. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "safetensors.h"

int main(int argc, char **argv)
{
    char *end = NULL;
    double tol = argc == 4 ? strtod(argv[3], &end) : NAN;
    if (argc != 4 || !end || *end || !(tol >= 0)) {
        fprintf(stderr, "usage: st_diff A.safetensors B.safetensors TOL  (TOL >= 0)\n");
        return 2;
    }
    st_file_t a = {0}, b = {0};
    char msg[512];
    if (st_read(argv[1], &a, msg, sizeof msg) || st_read(argv[2], &b, msg, sizeof msg)) {
        fprintf(stderr, "st_diff: %s\n", msg);
        st_free(&a);
        st_free(&b);
        return 2;
    }
    int rc = a.n == b.n ? 0 : 2;
    if (rc) fprintf(stderr, "st_diff: %s holds %zu tensors, %s %zu\n", a.path, a.n, b.path, b.n);
    for (size_t t = 0; t < a.n && rc != 2; t++) {
        const st_entry_t *e = &a.e[t];
        size_t cnt = 1;
        for (int d = 0; d < e->nd; d++) cnt *= e->shape[d];
        double *x = malloc((cnt ? cnt : 1) * sizeof *x), *y = malloc((cnt ? cnt : 1) * sizeof *y);
        if (!x || !y) {
            fprintf(stderr, "st_diff: out of memory\n");
            rc = 2;
        } else if (st_get(&a, e->name, e->nd, e->shape, x, msg, sizeof msg) ||
                   st_get(&b, e->name, e->nd, e->shape, y, msg, sizeof msg)) {
            fprintf(stderr, "st_diff: %s\n", msg);
            rc = 2;
        } else {
            double worst = 0;
            size_t at = 0;
            for (size_t i = 0; i < cnt; i++) {
                double d = fabs(x[i] - y[i]);
                if (!(d <= worst)) { /* NaN counts as the worst */
                    worst = d;
                    at = i;
                }
            }
            int over = !(worst <= tol);
            printf("%-24s max |a-b| %.3g at %zu (%.6g vs %.6g)%s\n", e->name, worst, at, cnt ? x[at] : 0.0,
                   cnt ? y[at] : 0.0, over ? "  > tolerance" : "");
            if (over) rc = 1;
        }
        free(x);
        free(y);
    }
    st_free(&a);
    st_free(&b);
    return rc;
}
