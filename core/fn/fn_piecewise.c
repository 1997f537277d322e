/* fn_piecewise.c - piecewise polynomials with exact selection (fn_pw_eval)
 * and the functions made of one: sigmoid, tanh, erf, GeLU.  See
 * fn_internal.h. */
#include "config.h"
#include "fn/fn_internal.h"

/* ---- piecewise polynomials ---------------------------------------------------- */

/* Fold mode: powers at scale 20, last level untruncated (scale 40),
 * coefficients at scale 20: values at scale 60, |value| < 1.9.
 * Precise mode: every power truncated to scale 24, coefficients at scale 30
 * (values at scale 54, |value| < 2^7): one more round, ~2^-26 accuracy. */
#define PW_FOLD_P 20
#define PW_FOLD_S 60
#define PW_PREC_P 24
#define PW_PREC_S 54

static int pw_levels(int deg) { return deg <= 1 ? 0 : deg <= 2 ? 1 : deg <= 4 ? 2 : 3; }

/* Rounds of pw_eval: powers (2 per level, the last one 1 in fold mode), the
 * comparison (7), the final truncation (1); plus one if the input scale is
 * too fine for the local variable (xs > P + e). */
int fn_pw_eval(spin_ctx_t *ctx, const uint64_t *X, size_t n, unsigned xs, const pw_t *pw, int precise,
               unsigned out_scale, int relu, uint64_t *out)
{
    int K = pw->K, d = pw->deg, L = pw_levels(d);
    int P = precise ? PW_PREC_P : PW_FOLD_P, S = precise ? PW_PREC_S : PW_FOLD_S;
    int Pc = S - (precise || L == 0 ? P : 2 * P);
    size_t Kn = (size_t)K * n;
    int ncmp = K + 1 + (relu ? 1 : 0);
    size_t Cn = (size_t)ncmp * n;
    uint64_t *pw_[9] = {0}, *V = NULL, *D = NULL, *Vv = NULL, *BV = NULL, *tmp = NULL;
    int rc = 0;
    for (int j = 1; j <= d && !rc; j++) rc = fn_words_alloc(ctx, Kn, &pw_[j]);
    if (!rc) rc = fn_words_alloc(ctx, Kn, &V);
    if (!rc) rc = fn_words_alloc(ctx, Cn, &D);
    if (!rc) rc = fn_words_alloc(ctx, Cn, &Vv);
    if (!rc) rc = fn_words_alloc(ctx, Cn, &BV);
    if (!rc) rc = fn_words_alloc(ctx, Kn > n ? Kn : n, &tmp);
    if (rc) goto done;
    /* u_k at scale P */
    int need_tr = 0;
    for (int k = 0; k < K && !rc; k++) {
        uint64_t *u = pw_[1] + (size_t)k * n;
        rc = fn_words_copy(ctx, u, X, n);
        if (!rc) rc = fn_words_add_const(ctx, u, (uint64_t)0 - fx(pw->mid[k], (int)xs), n);
        int sh = P - (int)xs + pw->e[k];
        if (!rc && sh > 0) rc = fn_words_scalar(ctx, SPIN_RING_SHL_S, u, u, (uint64_t)sh, n);
        if (sh < 0) need_tr = 1;
    }
    if (!rc && need_tr) {
        trn_t t[32];
        if (K > 32) { rc = SPIN_ERR_INTERNAL; goto done; }
        for (int k = 0; k < K; k++) {
            int sh = P - (int)xs + pw->e[k];
            t[k].x = pw_[1] + (size_t)k * n;
            t[k].n = n;
            t[k].d = sh < 0 ? (unsigned)-sh : 0;
        }
        rc = fn_trunc_batch(ctx, t, K);
    }
    if (rc) goto done;
    /* powers; raw[j] = 1 if pw_[j] is at scale 2P */
    int raw[9] = {0};
    int lastraw = !precise;
    if (L >= 1) {
        prod_t p[1] = {{pw_[1], NULL, pw_[2], Kn}};
        unsigned dd[1] = {(unsigned)P};
        if (L == 1 && lastraw) { rc = fn_beaver_batch(ctx, p, 1); raw[2] = 1; }
        else rc = fn_level(ctx, p, dd, 1);
    }
    if (!rc && L >= 2) {
        prod_t p[2];
        int np = 0;
        if (d >= 3) p[np++] = (prod_t){pw_[1], pw_[2], pw_[3], Kn};
        if (d >= 4) p[np++] = (prod_t){pw_[2], NULL, pw_[4], Kn};
        unsigned dd[2] = {(unsigned)P, (unsigned)P};
        if (L == 2 && lastraw) { rc = fn_beaver_batch(ctx, p, np); raw[3] = raw[4] = 1; }
        else rc = fn_level(ctx, p, dd, np);
    }
    if (!rc && L >= 3) {
        prod_t p[4];
        int np = 0;
        for (int j = 5; j <= d; j++) p[np++] = (prod_t){pw_[j - 4], j == 8 ? NULL : pw_[4], pw_[j], Kn};
        unsigned dd[4] = {(unsigned)P, (unsigned)P, (unsigned)P, (unsigned)P};
        if (lastraw) { rc = fn_beaver_batch(ctx, p, np); for (int j = 5; j <= 8; j++) raw[j] = 1; }
        else rc = fn_level(ctx, p, dd, np);
    }
    if (rc) goto done;
    /* V_k = sum_j c_jk u^j at scale S */
    rc = fn_words_zero(ctx, V, Kn);
    for (int k = 0; k < K && !rc; k++) {
        const double *ck = pw->c + (size_t)k * (size_t)(d + 1);
        uint64_t *v = V + (size_t)k * n;
        rc = fn_words_add_const(ctx, v, fx(ck[0], S), n);
        for (int j = 1; j <= d && !rc; j++) {
            uint64_t C = fx(ck[j], Pc);
            if (!raw[j] && lastraw && L > 0) C <<= P;   /* scale P -> 2P */
            rc = fn_words_axpy(ctx, v, C, pw_[j] + (size_t)k * n, n, tmp);
        }
    }
    /* comparisons t >= bk[k] with values piece_{k+1} - piece_k */
    for (int k = 0; k <= K && !rc; k++) {
        uint64_t *dk = D + (size_t)k * n, *vk = Vv + (size_t)k * n;
        rc = fn_words_copy(ctx, dk, X, n);
        if (!rc) rc = fn_words_add_const(ctx, dk, (uint64_t)0 - fx(pw->bk[k], (int)xs), n);
        /* piece_{k+1} */
        if (!rc) {
            if (k < K) rc = fn_words_copy(ctx, vk, V + (size_t)k * n, n);
            else rc = fn_words_zero(ctx, vk, n), rc = rc ? rc : fn_words_add_const(ctx, vk, fx(pw->right, S), n);
        }
        /* - piece_k */
        if (!rc) {
            if (k > 0) rc = fn_words_binary(ctx, SPIN_RING_SUB, vk, vk, V + (size_t)(k - 1) * n, n);
            else rc = fn_words_add_const(ctx, vk, (uint64_t)0 - fx(pw->left, S), n);
        }
    }
    if (!rc && relu) {
        rc = fn_words_copy(ctx, D + (size_t)(K + 1) * n, X, n);
        if (!rc) rc = fn_words_copy(ctx, Vv + (size_t)(K + 1) * n, X, n);
    }
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
    if (!rc) rc = spin_mpc_cmp_words(ctx, D, Cn, 0, NULL, Vv, BV);
    /* out = left + sum_k BV_k */
    if (!rc) rc = fn_words_zero(ctx, out, n);
    if (!rc) rc = fn_words_add_const(ctx, out, fx(pw->left, S), n);
    for (int k = 0; k <= K && !rc; k++) rc = fn_words_binary(ctx, SPIN_RING_ADD, out, out, BV + (size_t)k * n, n);
    if (!rc) {
        trn_t t = {out, n, (unsigned)(S - (int)out_scale)};
        rc = fn_trunc_batch(ctx, &t, 1);
    }
    if (!rc && relu) rc = fn_words_binary(ctx, SPIN_RING_ADD, out, out, BV + (size_t)(K + 1) * n, n);
    if (!rc) rc = ctx->compute->stream_sync(ctx->compute_state, NULL);
done:
    for (int j = 1; j <= 8; j++) FN_WORDS_FREE(pw_[j]);
    FN_WORDS_FREE(V);
    FN_WORDS_FREE(D);
    FN_WORDS_FREE(Vv);
    FN_WORDS_FREE(BV);
    FN_WORDS_FREE(tmp);
    return rc;
}

/* ---- tables (tools: Chebyshev interpolation at degree 8 on each piece,
 * converted to monomials in the piece's u; the error figures include the
 * coefficients' rounding to 2^-20) ------------------------------------------------ */
/* sig: degree 8, 5 pieces on [-13, 13], max approximation error 1.38e-06 */
static const double sig_bk[] = {-13.0, -4.5, -1.25, 1.25, 4.5, 13.0};
static const double sig_mid[] = {-8.75, -2.875, 0.0, 2.875, 8.75};
static const int sig_e[] = {-3, -1, -1, -1, -3};
static const double sig_c[] = {
    0.00015843621910252453, 0.001252691648073378, 0.0050587959140268399, 0.014191276039534769, 0.027390325439567449, 0.034412561746059701, 0.051783140758223732, 0.10400372607212897, 0.088649298299358303,
    0.053403329799824199, 0.10110052473497172, 0.090302810154306024, 0.047004365269304078, 0.011873005584552076, -0.003073220135351099, -0.0046403890065178557, -0.0017610774942792833, -6.9255169223730799e-05,
    0.50000000000000022, 0.49999360844133162, -6.8527899404418543e-15, -0.16644591111585974, 1.0251015838649538e-13, 0.064566589112517225, -4.6028031243218312e-13, -0.019270130460447735, 6.1882866753472218e-13,
    0.94659667020017602, 0.10110052473496685, -0.090302810154324425, 0.047004365269359603, -0.011873005584381225, -0.0030732201355161042, 0.0046403890060567315, -0.0017610774941364028, 6.9255169595960621e-05,
    0.99984156378089806, 0.0012526916480640107, -0.0050587959140943562, 0.014191276039777946, -0.027390325438147914, 0.034412561744368443, -0.051783140767060219, 0.10400372607557173, -0.088649298282763592,
};
/* max sum |c| 1.327 */
/* tanh: degree 8, 7 pieces on [-7.5, 7.5], max approximation error 1.29e-06 */
static const double tanh_bk[] = {-7.5, -3.0, -1.25, -0.375, 0.375, 1.25, 3.0, 7.5};
static const double tanh_mid[] = {-5.25, -2.125, -0.8125, 0.0, 0.8125, 2.125, 5.25};
static const int tanh_e[] = {-2, 0, 1, 1, 1, 0, -2};
static const double tanh_c[] = {
    -0.9999449286177714, 0.00043024157083448411, 0.0017546643254827536, 0.0051284444913830794, 0.009707204585451875, 0.01028160962980107, 0.01654729105112222, 0.041408393364791997, 0.036557729536749989,
    -0.97187274591350947, 0.055464836667961155, 0.053903670399390022, 0.03387377055412414, 0.014972199995701334, 0.0046100619920924259, 0.00059688377288583604, -0.000517846874882763, -0.00032225944658812166,
    -0.67096707420687418, 0.27490159968661987, 0.092224996066906914, 0.0080313761631490097, -0.0049916327926697876, -0.001961460278448028, -0.00011109810219976054, 0.00012701512072822848, 3.684241066865108e-05,
    -1.1256427888560614e-16, 0.49999986740580032, 1.1250259982868251e-14, -0.04166351025865097, -1.2803414783188854e-13, 0.0041462318296995801, 4.1364611950776069e-13, -0.00037187646240674607, -3.9627224317454818e-13,
    0.67096707420687385, 0.27490159968661304, -0.092224996066895853, 0.00803137616321703, 0.004991632792578876, -0.0019614602786249447, 0.00011109810241525466, 0.0001270151208614202, -3.6842410820295775e-05,
    0.97187274591350969, 0.055464836667950802, -0.053903670399387794, 0.033873770554227252, -0.014972199995722881, 0.004610061991825367, -0.00059688377283218246, -0.00051784687468171896, 0.0003222594465490617,
    0.99994492861777129, 0.00043024157081713812, -0.0017546643254848591, 0.0051284444917917334, -0.0097072045854341288, 0.010281609627274041, -0.016547291051184534, 0.041408393369355805, -0.036557729536671212,
};
/* max sum |c| 1.136 */
/* erf: degree 8, 6 pieces on [-4.25, 4.25], max approximation error 7.21e-07 */
static const double erf_bk[] = {-4.25, -2.0, -0.75, 0.0, 0.75, 2.0, 4.25};
static const double erf_mid[] = {-3.125, -1.375, -0.375, 0.375, 1.375, 3.125};
static const int erf_e[] = {-1, 0, 1, 1, 0, -1};
static const double erf_c[] = {
    -0.99999010326537519, 0.00012841664803406254, 0.00081327377741115562, 0.0032515313883858649, 0.0087645119979991668, 0.017725034108977397, 0.030635596110814421, 0.038713750336427967, 0.022343922598951939,
    -0.94817007278209076, 0.17035870906839229, 0.2342449696561783, 0.1579742946329255, 0.030491040280567382, -0.030949400139144729, -0.022073433627287545, -0.0001965812346988254, 0.0039646940112982856,
    -0.40411690943482265, 0.49017640368140025, 0.091908069304144163, -0.029359498553240448, -0.01041130525077503, 0.0014209434458884408, 0.00078191081791360428, -4.2283168801384778e-05, -4.1533639147541049e-05,
    0.40411690943482231, 0.49017640368139487, -0.09190806930412096, -0.029359498553172717, 0.010411305250519687, 0.0014209434456543938, -0.00078191081709852819, -4.2283168563371914e-05, 4.1533638371692744e-05,
    0.94817007278209064, 0.17035870906837811, -0.23424496965616437, 0.15797429463318866, -0.030491040280784688, -0.030949400140441334, 0.022073433628267716, -0.00019658123282326591, -0.0039646940126207139,
    0.99999010326537507, 0.00012841664801643019, -0.00081327377740936149, 0.0032515313887956318, -0.0087645119980070546, 0.017725034106432839, -0.030635596110801955, 0.038713750341036086, -0.022343922598951939,
};
/* max sum |c| 1.598 */
/* gelu: degree 8, 4 pieces on [-5.5, 5.5], max approximation error 4.04e-06 */
static const double gelu_bk[] = {-5.5, -2.0, 0.0, 2.0, 5.5};
static const double gelu_mid[] = {-3.75, -1.0, 1.0, 3.75};
static const int gelu_e[] = {-1, 0, 0, -1};
static const double gelu_c[] = {
    -0.00033156481950305533, -0.002506234342385233, -0.0085009210730554088, -0.017049797741090916, -0.024370505108214677, -0.025004025335978813, -0.0096416483557111264, 0.0093896376069169118, 0.0078681943921128112,
    -0.1586552539314571, -0.083314010796002966, 0.12098802329069008, 0.12096602614991064, 0.020128534867945649, -0.016063042478641296, -0.0059187019681054371, 0.0011613327392714368, 0.00070753932869596333,
    -0.1586552539314571, 0.083314010796003174, 0.1209880232906889, -0.12096602614991259, 0.020128534867950611, 0.016063042478645373, -0.0059187019681126562, -0.0011613327392738732, 0.00070753932869940502,
    -0.00033156481950326306, 0.0025062343423859425, -0.0085009210730448009, 0.017049797741083061, -0.024370505108278696, 0.025004025335997781, -0.0096416483555839868, -0.0093896376069300819, 0.0078681943920316296,
};
/* max sum |c| 0.528 */
/* gelut: degree 8, 4 pieces on [-5.5, 5.5], max approximation error 3.16e-06 */
static const double gelut_bk[] = {-5.5, -2.0, 0.0, 2.0, 5.5};
static const double gelut_mid[] = {-3.75, -1.0, 1.0, 3.75};
static const int gelut_e[] = {-1, 0, 0, -1};
static const double gelut_c[] = {
    -0.00021925207244172362, -0.0019280317497612446, -0.0075021527415413715, -0.017152225927188618, -0.026634264267565433, -0.026702462770253378, -0.0086099139456173885, 0.010621848391290359, 0.0079747509739804424,
    -0.15880800939172324, -0.082963417722026672, 0.12107719140237959, 0.12027813304630904, 0.020379315962226443, -0.015690887177525106, -0.0060991165787796699, 0.0010774248731942018, 0.00074977782589637069,
    -0.15880800939172324, 0.082963417722027519, 0.1210771914023803, -0.12027813304631613, 0.020379315962220541, 0.015690887177539952, -0.0060991165787674453, -0.0010774248732030218, 0.00074977782588924054,
    -0.00021925207244156869, 0.0019280317497623648, -0.0075021527415394503, 0.017152225927177151, -0.026634264267604069, 0.026702462770280291, -0.0086099139455109632, -0.010621848391308593, 0.0079747509739019513,
};
/* max sum |c| 0.527 */
static const pw_t PW_SIG = PW(sig, 0.0, 1.0);
static const pw_t PW_TANH = PW(tanh, -1.0, 1.0);
static const pw_t PW_ERF = PW(erf, -1.0, 1.0);
static const pw_t PW_GELU = PW(gelu, 0.0, 0.0);
static const pw_t PW_GELUT = PW(gelut, 0.0, 0.0);


static int w_pw(spin_ctx_t *ctx, const uint64_t *x, size_t n, uint64_t *out, const void *arg)
{
    const pw_t *pw = arg;
    int relu = pw == &PW_GELU || pw == &PW_GELUT;
    return fn_pw_eval(ctx, x, n, ctx->frac_bits, pw, 0, ctx->frac_bits, relu, out);
}

int spin_sigmoid(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return fn_unary(ctx, a, out, "sigmoid", w_pw, &PW_SIG);
}

int spin_tanh(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return fn_unary(ctx, a, out, "tanh", w_pw, &PW_TANH);
}

int spin_erf(spin_ctx_t *ctx, const spin_tensor_t *a, spin_tensor_t **out)
{
    return fn_unary(ctx, a, out, "erf", w_pw, &PW_ERF);
}

int spin_gelu(spin_ctx_t *ctx, const spin_tensor_t *a, spin_gelu_form_t form, spin_tensor_t **out)
{
    if (form != SPIN_GELU_ERF && form != SPIN_GELU_TANH) {
        if (ctx) MPC_ERR(ctx, "gelu: unknown form %d (SPIN_GELU_ERF or SPIN_GELU_TANH)", (int)form);
        return SPIN_ERR_INVAL;
    }
    return fn_unary(ctx, a, out, "gelu", w_pw, form == SPIN_GELU_ERF ? &PW_GELU : &PW_GELUT);
}
