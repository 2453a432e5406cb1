/* tests/nn/norms.c — the LayerNorm module and the RMSNorm family: the
 * initialisation exercises, each kind's defaults, forward values against
 * hand computation, each kind's dtype flow (bf16 rounding by hand), the
 * describe strings, edge cases and bad calls. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "nn_test.h"

static ag_arena *A;
static ag_rng rng;

static void setup(void) {
    A = ag_arena_new(0);
    ag_rng_seed(&rng, 11);
}

static void teardown(void) {
    ag_arena_free(A);
    ag_set_error_handler(NULL, NULL);
}

/* ---- hand references ------------------------------------------------------- */

/* Rounds an f32 value to bf16 by hand: 8 significant bits, ties to even. */
static double bf16_round(double v) {
    if (v == 0) return v;
    int e;
    double m = frexp(v, &e); /* v = m * 2^e, 0.5 <= |m| < 1 */
    return ldexp(nearbyint(m * 256.0), e - 8);
}

/* y = x / sqrt(mean(x^2) + eps) * (w or 1) per row of D, in double. */
static void rms_ref(const double *x, int64_t rows, int64_t D, double eps, const double *w,
                    double *y) {
    for (int64_t i = 0; i < rows; i++) {
        double ss = 0;
        for (int64_t j = 0; j < D; j++) ss += x[i * D + j] * x[i * D + j];
        double s = sqrt(ss / (double)D + eps);
        for (int64_t j = 0; j < D; j++) y[i * D + j] = x[i * D + j] / s * (w ? w[j] : 1.0);
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b per row of D (biased var). */
static void ln_ref(const double *x, int64_t rows, int64_t D, double eps, const double *w,
                   const double *b, double *y) {
    for (int64_t i = 0; i < rows; i++) {
        double mean = 0, var = 0;
        for (int64_t j = 0; j < D; j++) mean += x[i * D + j];
        mean /= (double)D;
        for (int64_t j = 0; j < D; j++) var += (x[i * D + j] - mean) * (x[i * D + j] - mean);
        var /= (double)D;
        for (int64_t j = 0; j < D; j++)
            y[i * D + j] = (x[i * D + j] - mean) / sqrt(var + eps) * (w ? w[j] : 1.0) +
                           (b ? b[j] : 0.0);
    }
}

static double *values(const ag_tensor *t) {
    double *v = ag_arena_alloc(A, (size_t)(t->numel ? t->numel : 1) * sizeof *v);
    ag_to_f64(t, v);
    return v;
}

static ag_nn_rmsnorm *rms(ag_rmsnorm_kind kind, int64_t D, double eps) {
    ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(A, kind, AG_SHAPE(D), eps, true);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* ---- initialisation exercises ---------------------------------------------- */

START_TEST(deepseek_v3_init) {
    /* rms = DeepseekV3RMSNorm(4096, eps=1e-5) */
    ag_nn_rmsnorm *m = rms(AG_RMSNORM_DEEPSEEK, 4096, 1e-5);
    ck_shape(m->weight, 1, ((int64_t[]){4096}));
    ck_assert_double_eq(m->variance_epsilon, 1e-5);
    ck_assert_double_eq(m->eps, 1e-5); /* the same field */
    ck_assert_int_eq(m->weight->dtype, AG_F32);
    for (int64_t i = 0; i < 4096; i++) ck_assert_double_eq(ag_get_flat(m->weight, i), 1.0);
    /* an nn.Parameter: a trainable leaf registered under "weight" */
    ck_assert(m->weight->requires_grad);
    ck_assert(ag_is_leaf(m->weight));
    ck_assert_ptr_eq(ag_module_param(&m->base, "weight"), m->weight);
    ck_assert_int_eq(m->base.nparams, 1);
    ck_assert_str_eq(m->base.type->name, "DeepseekV2RMSNorm");
    ck_assert_ptr_eq(m->base.type, ag_rmsnorm_type(AG_RMSNORM_DEEPSEEK));
    /* post_init: normal(1, 0.02) moves it off exact ones */
    ck_assert(ag_init_post_norm(m->weight, &rng));
    double mean = 0, var = 0;
    for (int64_t i = 0; i < 4096; i++) mean += ag_get_flat(m->weight, i);
    mean /= 4096;
    for (int64_t i = 0; i < 4096; i++)
        var += (ag_get_flat(m->weight, i) - mean) * (ag_get_flat(m->weight, i) - mean);
    ck_close(mean, 1.0, 0.002);
    ck_close(sqrt(var / 4095), 0.02, 0.002);
}
END_TEST

START_TEST(param_counts_vs_layernorm) {
    ag_nn_rmsnorm *r = rms(AG_RMSNORM, 4096, AG_EPS_DEFAULT);
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(4096), 1e-5, true, true);
    ck_assert_int_eq(ag_module_num_params(&r->base), 4096);
    ck_assert_int_eq(ag_module_num_trainable(&r->base), 4096);
    ck_assert_int_eq(ag_module_num_params(&l->base), 8192);
    ck_assert_ptr_eq(ag_module_param(&l->base, "weight"), l->weight);
    ck_assert_ptr_eq(ag_module_param(&l->base, "bias"), l->bias);
    for (int64_t i = 0; i < 4096; i++) {
        ck_assert_double_eq(ag_get_flat(l->weight, i), 1.0);
        ck_assert_double_eq(ag_get_flat(l->bias, i), 0.0);
    }
    /* without bias, without affine */
    ag_nn_layernorm *nb = ag_nn_layernorm_new(A, AG_SHAPE(4096), 1e-5, true, false);
    ag_nn_layernorm *na = ag_nn_layernorm_new(A, AG_SHAPE(4096), 1e-5, false, true);
    ck_assert_int_eq(ag_module_num_params(&nb->base), 4096);
    ck_assert_ptr_null(nb->bias);
    ck_assert_int_eq(ag_module_num_params(&na->base), 0);
    ck_assert_ptr_null(na->weight);
    ck_assert_ptr_null(na->bias);
    /* every RMSNorm kind with a parameter: D of them; weightless: none */
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 64, AG_EPS_DEFAULT);
        ck_assert_int_eq(ag_module_num_params(&m->base), k == AG_RMSNORM_WEIGHTLESS ? 0 : 64);
        ag_nn_rmsnorm *n = ag_nn_rmsnorm_new(A, (ag_rmsnorm_kind)k, AG_SHAPE(64), 1e-6, false);
        ck_assert_int_eq(ag_module_num_params(&n->base), 0);
        ck_assert_ptr_null(n->weight);
        ck_assert(!n->elementwise_affine);
    }
    /* the weightless kind never has one, whatever is asked */
    ag_nn_rmsnorm *w = rms(AG_RMSNORM_WEIGHTLESS, 8, AG_EPS_DEFAULT);
    ck_assert(!w->elementwise_affine);
    ck_assert_ptr_null(w->weight);
}
END_TEST

START_TEST(default_eps_of_each_kind) {
    const double want[AG_RMSNORM_KINDS] = {NAN, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-5, 1e-8};
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ck_close(ag_rmsnorm_default_eps((ag_rmsnorm_kind)k), want[k], 0);
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 8, AG_EPS_DEFAULT);
        ck_close(m->eps, want[k], 0);
        ag_nn_rmsnorm *e = rms((ag_rmsnorm_kind)k, 8, 0.25); /* an explicit eps is kept */
        ck_assert_double_eq(e->eps, 0.25);
    }
    ck_assert(isnan(ag_rmsnorm_default_eps(AG_RMSNORM)));
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(8), AG_EPS_DEFAULT, true, true);
    ck_assert_double_eq(l->eps, 1e-5);
    /* weights start at ones, Gemma's at zeros */
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        if (k == AG_RMSNORM_WEIGHTLESS) continue;
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 8, AG_EPS_DEFAULT);
        for (int i = 0; i < 8; i++)
            ck_assert_double_eq(ag_get_flat(m->weight, i), k == AG_RMSNORM_GEMMA ? 0.0 : 1.0);
    }
}
END_TEST

/* ---- torch.nn.RMSNorm: eps unset is the compute type's machine eps --------- */

START_TEST(rmsnorm_unset_eps_f32) {
    ag_nn_rmsnorm *m = rms(AG_RMSNORM, 4, AG_EPS_DEFAULT);
    ck_assert(isnan(m->eps));
    /* tiny values: mean(x^2) = 3.5e-8 is below eps = 2^-23, so eps matters */
    ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(1, 4), (double[]){1e-4, -2e-4, 3e-4, 0});
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert_int_eq(y->dtype, AG_F32);
    double *xv = values(x), want[4], other[4], none[4];
    ck_assert_double_eq(ag_dtype_eps(AG_F32), 1.1920928955078125e-07);
    rms_ref(xv, 1, 4, 1.1920928955078125e-07, NULL, want);
    rms_ref(xv, 1, 4, 1e-6, NULL, other);
    rms_ref(xv, 1, 4, 0, NULL, none);
    for (int j = 0; j < 3; j++) {
        ck_close(ag_get_flat(y, j), want[j], 2e-7 * fabs(want[j]));
        /* the test tells the eps apart: another eps gives another answer */
        ck_assert(fabs(want[j] - other[j]) > 0.1 * fabs(want[j]));
        ck_assert(fabs(want[j] - none[j]) > 0.1 * fabs(want[j]));
    }
    ck_assert_double_eq(ag_get_flat(y, 3), 0.0);
    ck_assert(isnan(m->eps)); /* still unset after a forward */
}
END_TEST

START_TEST(rmsnorm_unset_eps_f64) {
    ag_nn_rmsnorm *m = rms(AG_RMSNORM, 4, AG_EPS_DEFAULT);
    ck_assert(ag_module_cast(&m->base, AG_F64));
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2, 4),
                               (double[]){1e-8, -2e-8, 3e-8, 0, 1, 2, 3, 4});
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert_int_eq(y->dtype, AG_F64);
    ck_assert_double_eq(ag_dtype_eps(AG_F64), 2.220446049250313e-16);
    double *xv = values(x), want[8], f32eps[8];
    rms_ref(xv, 2, 4, 2.220446049250313e-16, NULL, want);
    rms_ref(xv, 2, 4, 1.1920928955078125e-07, NULL, f32eps);
    for (int j = 0; j < 8; j++) ck_close(ag_get_flat(y, j), want[j], 1e-14 * fabs(want[j]));
    ck_assert(fabs(want[0] - f32eps[0]) > 0.1); /* f32's eps would be wrong here */
    /* the same module on f32 input takes f32's eps (weight cast to f32) */
    ag_tensor *x32 = ag_from_f64(A, AG_F32, AG_SHAPE(1, 4), (double[]){1e-4, -2e-4, 3e-4, 0});
    ag_tensor *y32 = ag_nn_rmsnorm_forward(A, m, x32);
    ck_assert_int_eq(y32->dtype, AG_F32);
    double w32[4];
    rms_ref(values(x32), 1, 4, 1.1920928955078125e-07, NULL, w32);
    for (int j = 0; j < 4; j++) ck_close(ag_get_flat(y32, j), w32[j], 2e-7 * fabs(w32[j]));
}
END_TEST

/* bf16 input computes in f32, so the unset eps is f32's 2^-23 (PyTorch: the
 * machine eps of the op's compute type), not bf16's 2^-7: with mean(x^2)
 * around 1e-8 the two differ by a factor of ~250 in y. The result is the f32
 * value rounded to bf16 by hand. */
START_TEST(rmsnorm_unset_eps_bf16) {
    ag_nn_rmsnorm *m = rms(AG_RMSNORM, 4, AG_EPS_DEFAULT);
    ag_tensor *x = ag_from_f64(A, AG_BF16, AG_SHAPE(1, 4), (double[]){1e-4, -2e-4, 3e-4, 0});
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert_int_eq(y->dtype, AG_BF16);
    double *xv = values(x), want[4];
    rms_ref(xv, 1, 4, 0x1p-23, NULL, want);
    for (int j = 0; j < 4; j++)
        ck_close(ag_get_flat(y, j), bf16_round(want[j]), 0x1p-8 * fabs(want[j]));
}
END_TEST

START_TEST(rmsnorm_bf16_in_bf16_out) {
    ag_nn_rmsnorm *m = rms(AG_RMSNORM, 2, 1e-6);
    ag_tensor *x = ag_from_f64(A, AG_BF16, AG_SHAPE(1, 2), (double[]){1, 2});
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert_int_eq(y->dtype, AG_BF16);
    ck_assert_double_eq(ag_get_flat(y, 0), 0.6328125);
    ck_assert_double_eq(ag_get_flat(y, 1), 1.265625);
}
END_TEST

/* ---- forms and kinds ---------------------------------------------------- */

START_TEST(llama_rsqrt_and_sqrt_forms_agree) {
    ag_nn_rmsnorm *v2 = rms(AG_RMSNORM_LLAMA, 64, AG_EPS_DEFAULT);
    ag_nn_rmsnorm *v1 = rms(AG_RMSNORM_SQRT, 64, AG_EPS_DEFAULT);
    ck_assert_str_eq(v2->base.type->name, "LlamaRMSNorm");
    ck_assert_str_eq(v1->base.type->name, "RMSNormSqrt");
    ck_assert(ag_init_post_norm(v2->weight, &rng));
    for (int j = 0; j < 64; j++) ag_set_flat(v1->weight, j, ag_get_flat(v2->weight, j));
    ag_tensor *x = ag_randn(A, &rng, AG_F32, AG_SHAPE(2, 10, 64), 0, 3);
    ag_tensor *a = ag_nn_rmsnorm_forward(A, v2, x), *b = ag_nn_rmsnorm_forward(A, v1, x);
    double *want = ag_arena_alloc(A, 1280 * sizeof *want);
    rms_ref(values(x), 20, 64, 1e-6, values(v2->weight), want);
    double maxdiff = 0;
    for (int64_t i = 0; i < 1280; i++) {
        double u = ag_get_flat(a, i), v = ag_get_flat(b, i);
        ck_close(u, want[i], 1e-6 * (1 + fabs(want[i])));
        ck_close(v, want[i], 1e-6 * (1 + fabs(want[i])));
        if (fabs(u - v) > maxdiff) maxdiff = fabs(u - v);
    }
    ck_assert_msg(maxdiff <= 1e-6, "v1 vs v2 max diff %g", maxdiff); /* rounding only */
    /* the output RMS of each row is ~1 with weight ones */
    ag_nn_rmsnorm *ones = rms(AG_RMSNORM_LLAMA, 64, AG_EPS_DEFAULT);
    ag_tensor *o = ag_nn_rmsnorm_forward(A, ones, x);
    for (int i = 0; i < 20; i++) {
        double ss = 0;
        for (int j = 0; j < 64; j++) ss += ag_get_flat(o, i * 64 + j) * ag_get_flat(o, i * 64 + j);
        ck_close(sqrt(ss / 64), 1.0, 1e-5);
    }
}
END_TEST

START_TEST(weightless_worked_example) {
    /* microgpt: [3, 4, 0] -> ms = 25/3, scale = (ms + 1e-5)^-0.5 */
    ag_nn_rmsnorm *m = rms(AG_RMSNORM_WEIGHTLESS, 3, AG_EPS_DEFAULT);
    ck_assert_double_eq(m->eps, 1e-5);
    ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(3), (double[]){3, 4, 0});
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_shape(y, 1, ((int64_t[]){3}));
    ck_close(ag_get_flat(y, 0), 1.0392, 5e-5);
    ck_close(ag_get_flat(y, 1), 1.3856, 5e-5);
    ck_assert_double_eq(ag_get_flat(y, 2), 0.0);
    const double scale = pow(25.0 / 3.0 + 1e-5, -0.5);
    ck_close(ag_get_flat(y, 0), 3 * scale, 1e-6);
    ck_close(ag_get_flat(y, 1), 4 * scale, 1e-6);
}
END_TEST

START_TEST(gemma_unit_offset) {
    ag_nn_rmsnorm *g = rms(AG_RMSNORM_GEMMA, 8, 1e-6);
    ag_nn_rmsnorm *plain = ag_nn_rmsnorm_new(A, AG_RMSNORM_WEIGHTLESS, AG_SHAPE(8), 1e-6, false);
    ag_tensor *x = ag_randn(A, &rng, AG_F32, AG_SHAPE(3, 8), 0, 2);
    ag_tensor *yg = ag_nn_rmsnorm_forward(A, g, x), *yp = ag_nn_rmsnorm_forward(A, plain, x);
    double want[24];
    rms_ref(values(x), 3, 8, 1e-6, NULL, want);
    for (int i = 0; i < 24; i++) {
        ck_close(ag_get_flat(yg, i), ag_get_flat(yp, i), 0); /* zero weight: plain */
        ck_close(ag_get_flat(yg, i), want[i], 1e-6 * (1 + fabs(want[i])));
    }
    /* weight w: plain * (1 + w) */
    ck_assert(ag_init_normal(g->weight, &rng, 0, 0.5));
    ag_tensor *yw = ag_nn_rmsnorm_forward(A, g, x);
    double *w = values(g->weight);
    for (int i = 0; i < 24; i++)
        ck_close(ag_get_flat(yw, i), want[i] * (1 + w[i % 8]), 1e-6 * (1 + fabs(want[i])));
    /* bf16 x: computed in f32, result bf16 (rounded once) */
    ag_tensor *xb = ag_from_f64(A, AG_BF16, AG_SHAPE(1, 2), (double[]){1, 2});
    ag_nn_rmsnorm *g2 = rms(AG_RMSNORM_GEMMA, 2, 1e-6);
    ag_set_flat(g2->weight, 0, 0.5); /* factor 1.5 */
    ag_tensor *yb = ag_nn_rmsnorm_forward(A, g2, xb);
    ck_assert_int_eq(yb->dtype, AG_BF16);
    const float r = (float)(1 / sqrt(2.5 + 1e-6));
    ck_assert_double_eq(ag_get_flat(yb, 0), bf16_round((float)(r * 1.5f)));
    ck_assert_double_eq(ag_get_flat(yb, 1), bf16_round((float)(2 * r)));
}
END_TEST

/* DeepseekV2RMSNorm with bf16 input: h = x.to(f32) * rsqrt(var + eps),
 * h.to(bf16), then weight (f32) * h: an f32 result holding bf16 values. */
START_TEST(deepseek_bf16_upcast_rounding) {
    ag_nn_rmsnorm *m = rms(AG_RMSNORM_DEEPSEEK, 2, AG_EPS_DEFAULT);
    ag_tensor *x = ag_from_f64(A, AG_BF16, AG_SHAPE(1, 2), (double[]){1, 2});
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert_int_eq(y->dtype, AG_F32);
    /* x/rms = [0.6324555, 1.2649111]; with 8 significant bits:
     * 1.2649111 * 128 = 161.909 -> 162 -> 162/128 = 1.265625, and half that */
    ck_assert_double_eq(ag_get_flat(y, 0), 0.6328125);
    ck_assert_double_eq(ag_get_flat(y, 1), 1.265625);
    ck_assert_double_eq(bf16_round(0.6324555), 0.6328125);
    ck_assert_double_eq(bf16_round(1.2649111), 1.265625);
    /* [1, 1, 1, 1]: 1/sqrt(1 + 1e-6) = 0.9999995 rounds to 1 in bf16 ... */
    ag_nn_rmsnorm *m4 = rms(AG_RMSNORM_DEEPSEEK, 4, AG_EPS_DEFAULT);
    ag_tensor *x4 = ag_ones(A, AG_BF16, AG_SHAPE(1, 4));
    ag_tensor *y4 = ag_nn_rmsnorm_forward(A, m4, x4);
    for (int j = 0; j < 4; j++) ck_assert_double_eq(ag_get_flat(y4, j), 1.0);
    /* ... but not in f32 */
    ag_tensor *y4f = ag_nn_rmsnorm_forward(A, m4, ag_ones(A, AG_F32, AG_SHAPE(1, 4)));
    ck_close(ag_get_flat(y4f, 0), 1 / sqrt(1 + 1e-6), 1e-7);
    ck_assert(ag_get_flat(y4f, 0) < 1.0);
    /* the weight multiplies after the rounding, in f32 */
    ag_set_flat(m->weight, 0, 0.5);
    ag_set_flat(m->weight, 1, 3.0);
    y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert_double_eq(ag_get_flat(y, 0), 0.31640625);
    ck_assert_double_eq(ag_get_flat(y, 1), 3.796875);
    /* Llama and the sqrt form take the same path */
    ag_nn_rmsnorm *ll = rms(AG_RMSNORM_LLAMA, 2, AG_EPS_DEFAULT);
    ag_tensor *yl = ag_nn_rmsnorm_forward(A, ll, x);
    ck_assert_int_eq(yl->dtype, AG_F32);
    ck_assert_double_eq(ag_get_flat(yl, 0), 0.6328125);
    ck_assert_double_eq(ag_get_flat(yl, 1), 1.265625);
}
END_TEST

START_TEST(deepseek_bf16_random_rows) {
    /* every element: weight * bf16(f32(x * r)), r computed from the bf16 x */
    ag_nn_rmsnorm *m = rms(AG_RMSNORM_DEEPSEEK, 16, 1e-6);
    ck_assert(ag_init_post_norm(m->weight, &rng));
    ag_tensor *x = ag_randn(A, &rng, AG_BF16, AG_SHAPE(5, 16), 0, 1);
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert_int_eq(y->dtype, AG_F32);
    double *xv = values(x), *w = values(m->weight);
    int differ = 0;
    for (int i = 0; i < 5; i++) {
        /* r in double from the row; then the f32 steps: (float)x * (float)r */
        double ss = 0;
        for (int j = 0; j < 16; j++) ss += xv[i * 16 + j] * xv[i * 16 + j];
        const float r = (float)(1 / sqrt(ss / 16 + 1e-6));
        for (int j = 0; j < 16; j++) {
            const float h = (float)xv[i * 16 + j] * r;
            const double hb = bf16_round(h);
            ck_close(ag_get_flat(y, i * 16 + j), (float)((float)w[j] * (float)hb), 0);
            differ += hb != h;
        }
    }
    ck_assert(differ > 0); /* the rounding was exercised */
}
END_TEST

START_TEST(t5_casts_to_bf16_weight) {
    ag_nn_rmsnorm *m = rms(AG_RMSNORM_T5, 2, AG_EPS_DEFAULT);
    ck_assert_str_eq(m->base.type->name, "T5LayerNorm");
    const double h0 = 1 / sqrt(2.5 + 1e-6), h1 = 2 / sqrt(2.5 + 1e-6);
    /* f32 weight: no rounding to bf16, even for bf16 x (h stays f32) */
    ag_tensor *xb = ag_from_f64(A, AG_BF16, AG_SHAPE(1, 2), (double[]){1, 2});
    ag_tensor *xf = ag_from_f64(A, AG_F32, AG_SHAPE(1, 2), (double[]){1, 2});
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, xb);
    ck_assert_int_eq(y->dtype, AG_F32);
    ck_close(ag_get_flat(y, 0), h0, 1e-7);
    ck_close(ag_get_flat(y, 1), h1, 2e-7);
    y = ag_nn_rmsnorm_forward(A, m, xf);
    ck_assert_int_eq(y->dtype, AG_F32);
    ck_close(ag_get_flat(y, 0), h0, 1e-7);
    /* a bf16 weight (a half-precision model): h.to(bf16), then w * h in bf16 */
    ag_tensor *wb = ag_from_f64(A, AG_BF16, AG_SHAPE(2), (double[]){1, 1});
    m->weight = wb;
    y = ag_nn_rmsnorm_forward(A, m, xf);
    ck_assert_int_eq(y->dtype, AG_BF16);
    ck_assert_double_eq(ag_get_flat(y, 0), 0.6328125);
    ck_assert_double_eq(ag_get_flat(y, 1), 1.265625);
    y = ag_nn_rmsnorm_forward(A, m, xb);
    ck_assert_int_eq(y->dtype, AG_BF16);
    ck_assert_double_eq(ag_get_flat(y, 1), 1.265625);
    /* bf16 weight 3 on bf16(1.265625): 3.796875 needs 8 bits (11110011b/64): exact */
    ag_set_flat(wb, 1, 3.0);
    y = ag_nn_rmsnorm_forward(A, m, xf);
    ck_assert_double_eq(ag_get_flat(y, 1), bf16_round(3 * 1.265625));
}
END_TEST

/* The result dtype of every kind for f32, f64 and bf16 input (f32 weights). */
START_TEST(result_dtypes) {
    const ag_dtype in[3] = {AG_F32, AG_F64, AG_BF16};
    /* RMSNorm, Llama, Sqrt, DeepSeek, T5, Gemma, Weightless, Scale */
    const ag_dtype want[AG_RMSNORM_KINDS][3] = {
        {AG_F32, AG_F64, AG_BF16}, {AG_F32, AG_F64, AG_F32}, {AG_F32, AG_F64, AG_F32},
        {AG_F32, AG_F64, AG_F32},  {AG_F32, AG_F64, AG_F32}, {AG_F32, AG_F64, AG_BF16},
        {AG_F32, AG_F64, AG_BF16}, {AG_F32, AG_F64, AG_F32},
    };
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 4, AG_EPS_DEFAULT);
        ag_nn_rmsnorm *f64 = rms((ag_rmsnorm_kind)k, 4, AG_EPS_DEFAULT);
        ck_assert(ag_module_cast(&f64->base, AG_F64));
        for (int d = 0; d < 3; d++) {
            ag_tensor *x = ag_randn(A, &rng, in[d], AG_SHAPE(3, 4), 0, 1);
            ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
            ck_assert_ptr_nonnull(y);
            ck_assert_msg(y->dtype == want[k][d], "%s on %s gives %s, expected %s",
                          m->base.type->name, ag_dtype_name(in[d]), ag_dtype_name(y->dtype),
                          ag_dtype_name(want[k][d]));
            ck_shape(y, 2, ((int64_t[]){3, 4}));
        }
        /* a module cast to f64 on f64 input stays f64 */
        ag_tensor *y = ag_nn_rmsnorm_forward(A, f64, ag_randn(A, &rng, AG_F64, AG_SHAPE(4), 0, 1));
        ck_assert_int_eq(y->dtype, AG_F64);
    }
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(4), 1e-5, true, true);
    for (int d = 0; d < 3; d++)
        ck_assert_int_eq(
            ag_nn_layernorm_forward(A, l, ag_randn(A, &rng, in[d], AG_SHAPE(3, 4), 0, 1))->dtype,
            in[d]);
}
END_TEST

START_TEST(scale_form) {
    /* the scale form: RMSNorm(dim=5) with parameter "scale", eps 1e-8, (3, 5) */
    ag_nn_rmsnorm *m = rms(AG_RMSNORM_SCALE, 5, AG_EPS_DEFAULT);
    ck_assert_str_eq(m->base.type->name, "ScaleRMSNorm");
    ck_assert_double_eq(m->eps, 1e-8);
    ck_assert_ptr_eq(ag_module_param(&m->base, "scale"), m->weight);
    ck_assert_ptr_null(ag_module_param(&m->base, "weight"));
    ag_named_param *ps;
    ck_assert_int_eq(ag_module_parameters(&m->base, A, &ps), 1);
    ck_assert_str_eq(ps[0].name, "scale");
    ck_assert(ag_init_post_norm(m->weight, &rng));
    ag_tensor *x = ag_randn(A, &rng, AG_F32, AG_SHAPE(3, 5), 0, 1);
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_shape(y, 2, ((int64_t[]){3, 5}));
    double want[15];
    rms_ref(values(x), 3, 5, 1e-8, values(m->weight), want);
    ck_values(y, 15, want, 1e-6);
    /* any number of batch dims */
    ag_tensor *x4 = ag_randn(A, &rng, AG_F32, AG_SHAPE(2, 1, 3, 5), 0, 1);
    ag_tensor *y4 = ag_nn_rmsnorm_forward(A, m, x4);
    ck_shape(y4, 4, ((int64_t[]){2, 1, 3, 5}));
    double want4[30];
    rms_ref(values(x4), 6, 5, 1e-8, values(m->weight), want4);
    ck_values(y4, 30, want4, 1e-6);
}
END_TEST

START_TEST(layernorm_hand_values) {
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(4), 1e-5, true, true);
    ck_assert_str_eq(l->base.type->name, "LayerNorm");
    ck_assert_ptr_eq(l->base.type, &ag_nn_layernorm_type);
    ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(2, 4), (double[]){1, 2, 3, 4, -1, 0, 0, 5});
    /* row 0: mean 2.5, var (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25 */
    ag_tensor *y = ag_nn_layernorm_forward(A, l, x);
    const double s0 = sqrt(1.25 + 1e-5);
    double want0[4] = {-1.5 / s0, -0.5 / s0, 0.5 / s0, 1.5 / s0};
    for (int j = 0; j < 4; j++) ck_close(ag_get_flat(y, j), want0[j], 1e-6);
    /* row 1: mean 1, var (4 + 1 + 1 + 16)/4 = 5.5 */
    const double s1 = sqrt(5.5 + 1e-5);
    ck_close(ag_get_flat(y, 4), -2 / s1, 1e-6);
    ck_close(ag_get_flat(y, 7), 4 / s1, 1e-6);
    /* with a weight and a bias */
    const double w[4] = {0.5, -1, 2, 1.5}, b[4] = {0.1, 0.2, -0.3, 0};
    for (int j = 0; j < 4; j++) ag_set_flat(l->weight, j, w[j]), ag_set_flat(l->bias, j, b[j]);
    double want[8];
    ln_ref(values(x), 2, 4, 1e-5, w, b, want);
    ck_values(ag_nn_layernorm_forward(A, l, x), 8, want, 1e-6);
    /* no bias; no affine */
    ag_nn_layernorm *nb = ag_nn_layernorm_new(A, AG_SHAPE(4), 1e-3, true, false);
    for (int j = 0; j < 4; j++) ag_set_flat(nb->weight, j, w[j]);
    ln_ref(values(x), 2, 4, 1e-3, w, NULL, want);
    ck_values(ag_nn_layernorm_forward(A, nb, x), 8, want, 1e-6);
    ag_nn_layernorm *na = ag_nn_layernorm_new(A, AG_SHAPE(4), 1e-5, false, false);
    ln_ref(values(x), 2, 4, 1e-5, NULL, NULL, want);
    ck_values(ag_nn_layernorm_forward(A, na, x), 8, want, 1e-6);
    /* RMSNorm and LayerNorm differ on a row whose mean is not 0 */
    ag_nn_rmsnorm *r = rms(AG_RMSNORM_LLAMA, 4, 1e-5);
    ck_assert(fabs(ag_get_flat(ag_nn_rmsnorm_forward(A, r, x), 0) - want0[0]) > 0.5);
}
END_TEST

START_TEST(layernorm_multidim_and_gradient) {
    /* normalized_shape (2, 2, 5), batch 4: each of the 4 rows has 20 elements */
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(2, 2, 5), 1e-5, true, true);
    ck_shape(l->weight, 3, ((int64_t[]){2, 2, 5}));
    ck_assert(ag_init_normal(l->weight, &rng, 1, 0.3));
    ck_assert(ag_init_normal(l->bias, &rng, 0, 0.3));
    ag_tensor *x = ag_randn(A, &rng, AG_F64, AG_SHAPE(4, 2, 2, 5), 1, 2);
    ck_assert(ag_module_cast(&l->base, AG_F64));
    ag_tensor *y = ag_nn_layernorm_forward(A, l, x);
    double want[80];
    ln_ref(values(x), 4, 20, 1e-5, values(l->weight), values(l->bias), want);
    ck_values(y, 80, want, 1e-12);
    /* d(sum y)/d bias = 4 (rows), d(sum y)/d weight = sum over rows of xh */
    ck_assert(ag_backward(ag_sum(A, y, 0, NULL, false), NULL));
    double xh[80];
    ln_ref(values(x), 4, 20, 1e-5, NULL, NULL, xh);
    for (int j = 0; j < 20; j++) {
        ck_close(ag_get_flat(l->bias->grad, j), 4.0, 1e-12);
        ck_close(ag_get_flat(l->weight->grad, j), xh[j] + xh[20 + j] + xh[40 + j] + xh[60 + j],
                 1e-12);
    }
}
END_TEST

/* A hand gradient through the weightless kind and through DeepSeek's bf16
 * path (whose weight gradient is the rounded h). */
START_TEST(hand_gradients) {
    /* y = x r, r = 1/sqrt(ms), x = [3, 4], eps 0; loss = y[0]:
     * dx = r g - x r^3 mean(g x) with g = [1, 0], mean(g x) = 1.5 */
    ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(A, AG_RMSNORM_WEIGHTLESS, AG_SHAPE(2), 0.0, false);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){3, 4});
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    ck_assert(ag_backward(y, ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 0})));
    const double r = 1 / sqrt(12.5);
    ck_close(ag_get_flat(x->grad, 0), r - 3 * r * r * r * 1.5, 1e-15);
    ck_close(ag_get_flat(x->grad, 1), -4 * r * r * r * 1.5, 1e-15);

    ag_nn_rmsnorm *d = rms(AG_RMSNORM_DEEPSEEK, 2, AG_EPS_DEFAULT);
    ag_tensor *xb = ag_from_f64(A, AG_BF16, AG_SHAPE(3, 2), (double[]){1, 2, 1, 2, 1, 2});
    ag_set_requires_grad(xb, true);
    ag_tensor *yb = ag_nn_rmsnorm_forward(A, d, xb);
    ck_assert(ag_backward(ag_sum(A, yb, 0, NULL, false), NULL));
    ck_assert_double_eq(ag_get_flat(d->weight->grad, 0), 3 * 0.6328125);
    ck_assert_double_eq(ag_get_flat(d->weight->grad, 1), 3 * 1.265625);
    ck_assert_ptr_nonnull(xb->grad);
    ck_assert_int_eq(xb->grad->dtype, AG_BF16);
    /* d(sum y)/dx of a normalized row is r (1 - xh mean(xh)) with w = 1; here
     * mean(xh) over [0.632, 1.265] gives dx[0] = r (1 - 0.6325 * 0.9487) */
    const double rr = 1 / sqrt(2.5 + 1e-6), h0 = rr, h1 = 2 * rr, mh = (h0 + h1) / 2;
    ck_close(ag_get_flat(xb->grad, 0), rr * (1 - h0 * mh), 0.002);
}
END_TEST

/* ---- describe strings and types ---------------------------------------- */

static const char *describe(ag_module *m) {
    static char buf[256];
    buf[0] = 0;
    ck_assert(m->type->describe != NULL);
    m->type->describe(m, buf, sizeof buf);
    return buf;
}

START_TEST(describe_strings) {
    ck_assert_str_eq(describe(&rms(AG_RMSNORM, 4096, 1e-6)->base),
                     "(4096,), eps=1e-06, elementwise_affine=true");
    ck_assert_str_eq(describe(&rms(AG_RMSNORM, 4096, AG_EPS_DEFAULT)->base),
                     "(4096,), eps=None, elementwise_affine=true");
    ck_assert_str_eq(describe(&ag_nn_rmsnorm_new(A, AG_RMSNORM, AG_SHAPE(2, 3), 1e-5, false)->base),
                     "(2, 3), eps=1e-05, elementwise_affine=false");
    ck_assert_str_eq(describe(&rms(AG_RMSNORM_DEEPSEEK, 4096, 1e-5)->base),
                     "(4096,), variance_epsilon=1e-05");
    ck_assert_str_eq(describe(&rms(AG_RMSNORM_LLAMA, 4096, AG_EPS_DEFAULT)->base),
                     "(4096,), eps=1e-06");
    ck_assert_str_eq(describe(&rms(AG_RMSNORM_SCALE, 5, AG_EPS_DEFAULT)->base), "(5,), eps=1e-08");
    ck_assert_str_eq(describe(&rms(AG_RMSNORM_WEIGHTLESS, 8, AG_EPS_DEFAULT)->base),
                     "(8,), eps=1e-05");
    ck_assert_str_eq(
        describe(&ag_nn_rmsnorm_new(A, AG_RMSNORM_GEMMA, AG_SHAPE(8), 1e-6, false)->base),
        "(8,), eps=1e-06, elementwise_affine=false");
    ck_assert_str_eq(describe(&ag_nn_layernorm_new(A, AG_SHAPE(8), 1e-5, true, true)->base),
                     "(8,), eps=1e-05, elementwise_affine=true, bias=true");
    ck_assert_str_eq(
        describe(&ag_nn_layernorm_new(A, AG_SHAPE(2, 2, 5), 1e-12, false, false)->base),
        "(2, 2, 5), eps=1e-12, elementwise_affine=false, bias=false");
    ck_assert_str_eq(describe(&ag_nn_layernorm_new(A, AG_SHAPE(8), 1e-5, true, false)->base),
                     "(8,), eps=1e-05, elementwise_affine=true, bias=false");
    /* Python's float repr: shortest digits, positional from 1e-4 up to 1e16 */
    const struct {
        double eps;
        const char *text;
    } reprs[] = {
        {1e-4, "0.0001"},  {1e-3, "0.001"}, {0.5, "0.5"},       {0, "0.0"},
        {1, "1.0"},        {2.5e-7, "2.5e-07"}, {0.1, "0.1"},  {123.25, "123.25"},
        {1e16, "1e+16"},   {1234567.0, "1234567.0"}, {0.012, "0.012"},
        {1.1920928955078125e-07, "1.1920928955078125e-07"},
    };
    for (size_t i = 0; i < sizeof reprs / sizeof reprs[0]; i++) {
        char want[96];
        snprintf(want, sizeof want, "(3,), eps=%s", reprs[i].text);
        ck_assert_str_eq(describe(&rms(AG_RMSNORM_T5, 3, reprs[i].eps)->base), want);
    }
    /* a small buffer truncates safely */
    char small[8];
    ag_nn_rmsnorm *m = rms(AG_RMSNORM, 4096, 1e-6);
    m->base.type->describe(&m->base, small, sizeof small);
    ck_assert_str_eq(small, "(4096,)");
}
END_TEST

START_TEST(types_and_registry) {
    const char *names[AG_RMSNORM_KINDS] = {
        "RMSNorm",     "LlamaRMSNorm", "RMSNormSqrt",       "DeepseekV2RMSNorm",
        "T5LayerNorm", "GemmaRMSNorm", "WeightlessRMSNorm", "ScaleRMSNorm",
    };
    const ag_module_type *builtin[16];
    int n = ag_norm_types(builtin, 16);
    ck_assert_int_ge(n, 1 + AG_RMSNORM_KINDS);
    ck_assert_ptr_eq(builtin[0], &ag_nn_layernorm_type);
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        const ag_module_type *t = ag_rmsnorm_type((ag_rmsnorm_kind)k);
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(t->name, names[k]);
        ck_assert(t->forward != NULL);
        ck_assert_ptr_eq(builtin[1 + k], t);
        ck_assert(ag_norm_is_registered(t));
        for (int j = 0; j < k; j++) ck_assert_ptr_ne(ag_rmsnorm_type((ag_rmsnorm_kind)j), t);
        /* the module's type, and forward through the base */
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 3, AG_EPS_DEFAULT);
        ck_assert_ptr_eq(m->base.type, t);
        ck_assert(ag_module_is_norm(&m->base));
        ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(3), (double[]){3, 4, 0});
        ag_tensor *y = ag_module_forward(&m->base, A, x), *z = ag_nn_rmsnorm_forward(A, m, x);
        for (int j = 0; j < 3; j++) ck_assert_double_eq(ag_get_flat(y, j), ag_get_flat(z, j));
    }
    ck_assert(ag_norm_is_registered(&ag_nn_layernorm_type));
    /* the printed tree shows the describe string */
    ag_nn_rmsnorm *m = rms(AG_RMSNORM, 8, 1e-6);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ag_module_print(f, &m->base);
    fclose(f);
    ck_assert_msg(strstr(buf, "RMSNorm((8,), eps=1e-06, elementwise_affine=true)"), "%s", buf);
    free(buf);
}
END_TEST

/* ---- edge cases ---------------------------------------------------------- */

START_TEST(edge_cases) {
    /* a row of zeros: zeros with eps > 0 (also torch's unset eps) */
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 4, AG_EPS_DEFAULT);
        ag_tensor *y = ag_nn_rmsnorm_forward(A, m, ag_zeros(A, AG_F32, AG_SHAPE(2, 4)));
        for (int j = 0; j < 8; j++) ck_assert_double_eq(ag_get_flat(y, j), 0.0);
    }
    /* eps 0 on a row of zeros: 0/0 = NaN, as in PyTorch */
    ag_nn_rmsnorm *z = rms(AG_RMSNORM, 4, 0.0);
    ck_assert(isnan(ag_get_flat(ag_nn_rmsnorm_forward(A, z, ag_zeros(A, AG_F32, AG_SHAPE(4))), 0)));
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(4), 1e-5, true, true);
    ag_tensor *ly = ag_nn_layernorm_forward(A, l, ag_full(A, AG_F32, AG_SHAPE(4), 7.0));
    for (int j = 0; j < 4; j++) ck_assert_double_eq(ag_get_flat(ly, j), 0.0); /* constant row */

    /* multi-dim normalized shape (2, 2, 5), batch 4 */
    ag_nn_rmsnorm *md = ag_nn_rmsnorm_new(A, AG_RMSNORM_LLAMA, AG_SHAPE(2, 2, 5), 1e-6, true);
    ck_shape(md->weight, 3, ((int64_t[]){2, 2, 5}));
    ck_assert_int_eq(ag_module_num_params(&md->base), 20);
    ck_assert(ag_init_post_norm(md->weight, &rng));
    ag_tensor *x = ag_randn(A, &rng, AG_F32, AG_SHAPE(4, 2, 2, 5), 0, 1);
    ag_tensor *y = ag_nn_rmsnorm_forward(A, md, x);
    ck_shape(y, 4, ((int64_t[]){4, 2, 2, 5}));
    double want[80];
    rms_ref(values(x), 4, 20, 1e-6, values(md->weight), want);
    ck_values(y, 80, want, 2e-6);

    /* D = 1: x / sqrt(x^2 + eps) */
    ag_nn_rmsnorm *d1 = rms(AG_RMSNORM_SQRT, 1, 1e-6);
    ag_tensor *y1 = ag_nn_rmsnorm_forward(A, d1, ag_from_f64(A, AG_F64, AG_SHAPE(2, 1),
                                                             (double[]){2, -3}));
    ck_close(ag_get_flat(y1, 0), 2 / sqrt(4 + 1e-6), 1e-15);
    ck_close(ag_get_flat(y1, 1), -3 / sqrt(9 + 1e-6), 1e-15);
    ag_nn_layernorm *l1 = ag_nn_layernorm_new(A, AG_SHAPE(1), 1e-5, true, true);
    ag_set_flat(l1->bias, 0, 0.25);
    ag_tensor *ly1 = ag_nn_layernorm_forward(A, l1, ag_from_f64(A, AG_F32, AG_SHAPE(3, 1),
                                                                 (double[]){5, -1, 2}));
    for (int j = 0; j < 3; j++) ck_assert_double_eq(ag_get_flat(ly1, j), 0.25);

    /* 0 rows: an empty result of the same shape, and backward is harmless */
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 8, AG_EPS_DEFAULT);
        ag_tensor *e = ag_zeros(A, AG_F32, AG_SHAPE(0, 8));
        ag_set_requires_grad(e, true);
        ag_tensor *ye = ag_nn_rmsnorm_forward(A, m, e);
        ck_shape(ye, 2, ((int64_t[]){0, 8}));
        ck_assert_int_eq(ye->numel, 0);
        ck_assert(ag_backward(ag_sum(A, ye, 0, NULL, false), NULL));
        if (m->weight) {
            ck_assert_ptr_nonnull(m->weight->grad);
            for (int j = 0; j < 8; j++) ck_assert_double_eq(ag_get_flat(m->weight->grad, j), 0.0);
        }
    }
    ag_tensor *le = ag_nn_layernorm_forward(A, l, ag_zeros(A, AG_F32, AG_SHAPE(3, 0, 4)));
    ck_shape(le, 3, ((int64_t[]){3, 0, 4}));

    /* NULL propagates without a report */
    ag_clear_error();
    ck_assert_ptr_null(ag_nn_rmsnorm_forward(A, md, NULL));
    ck_assert_ptr_null(ag_nn_rmsnorm_forward(A, NULL, x));
    ck_assert_ptr_null(ag_nn_layernorm_forward(A, l, NULL));
    ck_assert_ptr_null(ag_nn_layernorm_forward(A, NULL, x));
    ck_assert_int_eq(ag_error_count(), 0);
}
END_TEST

/* ---- bad calls ---------------------------------------------------------- */

/* ---- the eps rule: any finite eps, negative allowed (PyTorch) ---------------- */

/* x = [1, 3]. LayerNorm: mean 2, biased var ((-1)^2 + 1^2)/2 = 1; with
 * eps = -0.5 (an eps PyTorch's own layer_norm tests use) var + eps = 1/2 and
 * y = (x - 2)/sqrt(1/2) = [-sqrt 2, sqrt 2]. RMSNorm: mean(x^2) = (1 + 9)/2
 * = 5; with eps = -1, ms + eps = 4 and y = x/2 = [0.5, 1.5], in both the
 * rsqrt and the sqrt-div form. Ones (Gemma: 1 + zeros) as weights and a zero
 * bias leave these unchanged, so every module gives the same. */
static const double LN_NEG[] = {-1.4142135623730951, 1.4142135623730951};
static const double RMS_NEG[] = {0.5, 1.5};

START_TEST(negative_eps_ops) {
    for (int k = 0; k < 2; k++) {
        const ag_dtype dt = k ? AG_F32 : AG_F64;
        const double tol = k ? 1e-6 : 1e-15;
        ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(2), (const double[]){1, 3});
        ck_values(ag_layer_norm(A, x, AG_SHAPE(2), NULL, NULL, -0.5), 2, LN_NEG, tol);
        ck_values(ag_rms_norm(A, x, AG_SHAPE(2), NULL, -1.0, AG_RMS_RSQRT), 2, RMS_NEG, tol);
        ck_values(ag_rms_norm(A, x, AG_SHAPE(2), NULL, -1.0, AG_RMS_SQRT_DIV), 2, RMS_NEG, tol);
    }
}
END_TEST

START_TEST(negative_eps_modules) {
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(1, 2), (const double[]){1, 3});
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(2), -0.5, true, true);
    ck_assert_ptr_nonnull(l);
    ck_assert_double_eq(l->eps, -0.5);
    ck_values(ag_nn_layernorm_forward(A, l, x), 2, LN_NEG, 1e-15);
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ag_nn_rmsnorm *m = rms((ag_rmsnorm_kind)k, 2, -1.0);
        ck_assert_double_eq(m->eps, -1.0);
        ck_values(ag_nn_rmsnorm_forward(A, m, x), 2, RMS_NEG, 1e-15);
    }
    /* and as a block's norm */
    ag_module *n = ag_norm_new(A, ((ag_norm_choice){&ag_nn_layernorm_type, -0.5}), 2);
    ck_assert_ptr_nonnull(n);
    ck_values(ag_module_forward(n, A, x), 2, LN_NEG, 1e-15);
    n = ag_norm_new(A, ((ag_norm_choice){&ag_rmsnorm_types[AG_RMSNORM], -1.0}), 2);
    ck_assert_ptr_nonnull(n);
    ck_values(ag_module_forward(n, A, x), 2, RMS_NEG, 1e-15);
}
END_TEST

/* inf, -inf and NaN are refused with one message, by the ops and by the
 * modules; only AG_EPS_DEFAULT (a NaN with its own payload) is the default. */
START_TEST(non_finite_eps_refused) {
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(1, 2), (const double[]){1, 3});
    const double bad[] = {INFINITY, -INFINITY, NAN};
    for (int i = 0; i < 3; i++) {
        expect_errors();
        ck_assert_ptr_null(ag_layer_norm(A, x, AG_SHAPE(2), NULL, NULL, bad[i]));
        check_error("layer_norm", "eps is", "expected a finite number");
        expect_errors();
        ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(2), NULL, bad[i], AG_RMS_RSQRT));
        check_error("rms_norm", "eps is", "expected a finite number");
        expect_errors();
        ck_assert_ptr_null(ag_nn_layernorm_new(A, AG_SHAPE(2), bad[i], true, true));
        check_error("nn_layernorm_new", "eps is", "expected a finite number");
        expect_errors();
        ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM_LLAMA, AG_SHAPE(2), bad[i], true));
        check_error("nn_rmsnorm_new", "eps is", "expected a finite number");
    }
    ck_assert_double_eq(ag_nn_layernorm_new(A, AG_SHAPE(2), AG_EPS_DEFAULT, true, true)->eps,
                        1e-5);
    ck_assert_double_eq(rms(AG_RMSNORM_LLAMA, 2, AG_EPS_DEFAULT)->eps, 1e-6);
}
END_TEST

START_TEST(bad_constructor_args) {
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM_LLAMA, 0, (const int64_t[]){8}, 1e-6, true));
    check_error("nn_rmsnorm_new", "LlamaRMSNorm", "0 dims");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM, AG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1), 1e-6,
                                         true));
    check_error("nn_rmsnorm_new", "9 dims", "expected 1 to 8");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM, 1, NULL, 1e-6, true));
    check_error("nn_rmsnorm_new", "NULL", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM_T5, AG_SHAPE(4, 0), 1e-6, true));
    check_error("nn_rmsnorm_new", "[4,0]", "sizes > 0");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM_T5, AG_SHAPE(-3), 1e-6, true));
    check_error("nn_rmsnorm_new", "[-3]", "sizes > 0");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM_GEMMA, AG_SHAPE(8), -INFINITY, true));
    check_error("nn_rmsnorm_new", "GemmaRMSNorm [8]", "finite number");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM_GEMMA, AG_SHAPE(8), INFINITY, true));
    check_error("nn_rmsnorm_new", "inf", "finite");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, (ag_rmsnorm_kind)99, AG_SHAPE(8), 1e-6, true));
    check_error("nn_rmsnorm_new", "kind 99", "expected 0 to 7");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(A, AG_RMSNORM_KINDS, AG_SHAPE(8), 1e-6, true));
    check_error("nn_rmsnorm_new", "kind 8", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_new(NULL, AG_RMSNORM, AG_SHAPE(8), 1e-6, true));
    check_error("nn_rmsnorm_new", "RMSNorm", "arena is NULL");
    expect_errors();
    ck_assert_ptr_null(ag_rmsnorm_type((ag_rmsnorm_kind)-1));
    check_error("rmsnorm_type", "kind -1", NULL);
    expect_errors();
    ck_assert(isnan(ag_rmsnorm_default_eps((ag_rmsnorm_kind)12)));
    check_error("rmsnorm_default_eps", "kind 12", NULL);

    expect_errors();
    ck_assert_ptr_null(ag_nn_layernorm_new(A, 9, (const int64_t[9]){1}, 1e-5, true, true));
    check_error("nn_layernorm_new", "LayerNorm", "9 dims");
    expect_errors();
    ck_assert_ptr_null(ag_nn_layernorm_new(A, AG_SHAPE(2, 0), 1e-5, true, true));
    check_error("nn_layernorm_new", "[2,0]", "sizes > 0");
    expect_errors();
    ck_assert_ptr_null(ag_nn_layernorm_new(A, AG_SHAPE(8), INFINITY, true, true));
    check_error("nn_layernorm_new", "LayerNorm [8]", "finite number");
    expect_errors();
    ck_assert_ptr_null(ag_nn_layernorm_new(NULL, AG_SHAPE(8), 1e-5, true, true));
    check_error("nn_layernorm_new", "arena is NULL", NULL);
}
END_TEST

START_TEST(bad_forward_args) {
    ag_nn_rmsnorm *m = rms(AG_RMSNORM_LLAMA, 8, AG_EPS_DEFAULT);
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_forward(A, m, ag_zeros(A, AG_F32, AG_SHAPE(2, 3))));
    check_error("nn_rmsnorm_forward", "LlamaRMSNorm over normalized_shape [8]", "input [2,3]");
    ck_assert_int_eq(ag_error_count(), 1); /* one report, not one per layer */
    ag_nn_rmsnorm *m2 = ag_nn_rmsnorm_new(A, AG_RMSNORM_T5, AG_SHAPE(2, 4), 1e-6, true);
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_forward(A, m2, ag_zeros(A, AG_F32, AG_SHAPE(4))));
    check_error("nn_rmsnorm_forward", "[2,4]", "input [4]");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_forward(A, m2, ag_zeros(A, AG_F32, AG_SHAPE(3, 4, 2))));
    check_error("nn_rmsnorm_forward", "T5LayerNorm", "[3,4,2]");
    expect_errors();
    ck_assert_ptr_null(ag_nn_rmsnorm_forward(A, m, ag_zeros(A, AG_I32, AG_SHAPE(2, 8))));
    check_error("nn_rmsnorm_forward", "i32", NULL);
    expect_errors();
    m->kind = (ag_rmsnorm_kind)42;
    ck_assert_ptr_null(ag_nn_rmsnorm_forward(A, m, ag_zeros(A, AG_F32, AG_SHAPE(2, 8))));
    check_error("nn_rmsnorm_forward", "kind 42", NULL);

    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(4), 1e-5, true, true);
    expect_errors();
    ck_assert_ptr_null(ag_nn_layernorm_forward(A, l, ag_zeros(A, AG_F32, AG_SHAPE(4, 5))));
    check_error("nn_layernorm_forward", "LayerNorm over normalized_shape [4]", "input [4,5]");
    expect_errors();
    ck_assert_ptr_null(ag_module_forward(&l->base, A, ag_zeros(A, AG_F64, AG_SHAPE(0))));
    check_error("nn_layernorm_forward", "input [0]", NULL);
}
END_TEST

TCase *nn_norms_tcase(void) {
    TCase *tc = tcase_create("norms");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, deepseek_v3_init);
    tcase_add_test(tc, param_counts_vs_layernorm);
    tcase_add_test(tc, default_eps_of_each_kind);
    tcase_add_test(tc, rmsnorm_unset_eps_f32);
    tcase_add_test(tc, rmsnorm_unset_eps_f64);
    tcase_add_test(tc, rmsnorm_unset_eps_bf16);
    tcase_add_test(tc, rmsnorm_bf16_in_bf16_out);
    tcase_add_test(tc, llama_rsqrt_and_sqrt_forms_agree);
    tcase_add_test(tc, weightless_worked_example);
    tcase_add_test(tc, gemma_unit_offset);
    tcase_add_test(tc, deepseek_bf16_upcast_rounding);
    tcase_add_test(tc, deepseek_bf16_random_rows);
    tcase_add_test(tc, t5_casts_to_bf16_weight);
    tcase_add_test(tc, result_dtypes);
    tcase_add_test(tc, scale_form);
    tcase_add_test(tc, layernorm_hand_values);
    tcase_add_test(tc, layernorm_multidim_and_gradient);
    tcase_add_test(tc, hand_gradients);
    tcase_add_test(tc, describe_strings);
    tcase_add_test(tc, types_and_registry);
    tcase_add_test(tc, edge_cases);
    tcase_add_test(tc, negative_eps_ops);
    tcase_add_test(tc, negative_eps_modules);
    tcase_add_test(tc, non_finite_eps_refused);
    tcase_add_test(tc, bad_constructor_args);
    tcase_add_test(tc, bad_forward_args);
    return tc;
}
