/* two_owner_matmul.c - the worked example of docs/API.md.
 *
 * Party 0 owns a matrix A [4x3], the last party owns B [3x2].  Both are
 * secret-shared, multiplied securely, and the product is revealed to every
 * party.  The matrices are generated from a public formula so each party
 * can check the result here; in real use only the owners would know them.
 *
 *   spin-run -n 3 ./two_owner_matmul
 */
#include <math.h>
#include <stdio.h>

#include <spin/mpc.h>

int main(void)
{
    spin_ctx_t *ctx;
    int rc = spin_ctx_open(NULL, &ctx);      /* party, peers: from spin-run */
    if (rc) {
        fprintf(stderr, "two_owner_matmul: cannot join the computation: %s\n", spin_strerror(rc));
        return 1;
    }
    int me = spin_ctx_party(ctx), n = spin_ctx_nparties(ctx);
    double A[4 * 3], B[3 * 2];
    for (int i = 0; i < 12; i++) A[i] = 0.5 * i - 2.25;
    for (int i = 0; i < 6; i++) B[i] = 1.0 / (i + 1) - 0.3;
    size_t sa[2] = {4, 3}, sb[2] = {3, 2};

    spin_tensor_t *a = NULL, *b = NULL, *c = NULL;
    rc = spin_input_f64(ctx, 0, me == 0 ? A : NULL, 2, sa, &a);          /* owner: party 0 */
    if (!rc) rc = spin_input_f64(ctx, n - 1, me == n - 1 ? B : NULL, 2, sb, &b); /* owner: last */
    if (!rc) rc = spin_matmul(ctx, a, 0, b, 0, &c);                      /* secure product */
    double C[4 * 2];
    if (!rc) rc = spin_reveal_f64(ctx, c, -1, C);                        /* to everyone */
    if (rc) {
        fprintf(stderr, "two_owner_matmul: party %d: %s\n", me, spin_strerror(rc));
        spin_ctx_close(ctx);
        return 1;
    }
    double maxerr = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++) s += A[i * 3 + k] * B[k * 2 + j];
            double e = fabs(C[i * 2 + j] - s);
            if (e > maxerr) maxerr = e;
        }
    spin_comm_stats_t st;
    spin_ctx_stats(ctx, -1, &st);
    int ok = maxerr < 1e-3;
    printf("party %d of %d: C[0][0] = %.5f, max error %.2g: product %s (%llu bytes sent, %llu rounds)\n",
           me, n, C[0], maxerr, ok ? "ok" : "WRONG", (unsigned long long)st.bytes_sent,
           (unsigned long long)st.rounds);
    spin_tensor_free(a);
    spin_tensor_free(b);
    spin_tensor_free(c);
    spin_ctx_close(ctx);
    return ok ? 0 : 1;
}
