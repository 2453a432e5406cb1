/* tests/gradcheck/jacobian.c — ag_gradcheck itself: it passes correct
 * gradients, catches wrong and non-reentrant ones, reports where, restores
 * its inputs, and refuses what it cannot check. */
#include <stdlib.h>

#include "gradcheck_test.h"
#include "internal.h" /* ag__record, ag__grad_buf: to build deliberately broken ops */

/* ---- a square op with a backward that can be made wrong -------------------- */

typedef enum { RIGHT, WRONG_AT_2, NOT_REENTRANT } flavour;

static void square_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    static int calls;
    calls++;
    const double *xv = x->data, *g = out->grad->data;
    double *d = gx->data;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = 2 * xv[i] * g[i];
        if (out->iparam[0] == WRONG_AT_2 && i == 2) v *= 1.01;          /* 1% off */
        if (out->iparam[0] == NOT_REENTRANT) v += (calls % 2) * 1e-13; /* drifts */
        d[i] += v;
    }
}

static const ag_op SQUARE = {"test_square", square_backward, NULL};

static ag_tensor *f_square(ag_arena *A, ag_tensor *const *in, int n, void *u) {
    (void)n;
    ag_tensor *x = in[0];
    ag_tensor *y = ag_empty(A, AG_F64, x->ndim, x->shape);
    for (int64_t i = 0; i < x->numel; i++)
        ((double *)y->data)[i] = ((double *)x->data)[i] * ((double *)x->data)[i];
    y->iparam[0] = *(const flavour *)u;
    ag__record(y, &SQUARE, 1, &x);
    return y;
}

static ag_tensor *leaf(ag_arena *A, int n, const double *v) {
    ag_tensor *t = ag_from_f64(A, AG_F64, 1, (const int64_t[]){n}, v);
    ag_set_requires_grad(t, true);
    return t;
}

START_TEST(passes_a_correct_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(A, 4, (const double[]){0.5, -1.0, 2.0, 3.0});
    flavour fl = RIGHT;
    ag_gradcheck_result r;
    ck_assert(ag_gradcheck(f_square, 1, &x, &fl, NULL, &r));
    ck_assert(r.pass && r.reentrant && r.input_pass[0]);
    ck_assert_int_eq(r.n_elements, 16); /* a 4x4 Jacobian */
    ck_assert_str_eq(r.message, "");
    /* central differences of x^2 are exact up to rounding: 2x */
    ck_assert_double_lt(r.max_abs_err, 1e-8);
    ag_arena_free(A);
}
END_TEST

START_TEST(catches_a_wrong_element_and_says_where) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(A, 4, (const double[]){0.5, -1.0, 2.0, 3.0});
    flavour fl = WRONG_AT_2;
    ag_gradcheck_result r;
    ck_assert(!ag_gradcheck(f_square, 1, &x, &fl, NULL, &r));
    ck_assert(!r.input_pass[0]);
    ck_assert_int_eq(r.worst[0].index, 2);
    ck_assert_int_eq(r.worst[0].out_index, 2);
    /* analytic 2*2*1.01 = 4.04, numeric 4 */
    ck_assert_double_eq_tol(r.worst[0].analytic, 4.04, 1e-12);
    ck_assert_double_eq_tol(r.worst[0].numeric, 4.0, 1e-8);
    ck_assert_ptr_nonnull(strstr(r.message, "element 2"));
    ag_arena_free(A);
}
END_TEST

START_TEST(catches_a_non_reentrant_backward) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(A, 3, (const double[]){0.5, -1.0, 2.0});
    flavour fl = NOT_REENTRANT;
    ag_gradcheck_result r;
    ck_assert(!ag_gradcheck(f_square, 1, &x, &fl, NULL, &r));
    ck_assert(!r.reentrant);
    ck_assert(r.input_pass[0]); /* within tolerance, but not reproducible */
    ck_assert_ptr_nonnull(strstr(r.message, "reentrant"));
    ag_arena_free(A);
}
END_TEST

START_TEST(fast_mode_catches_the_same_error) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(A, 4, (const double[]){0.5, -1.0, 2.0, 3.0});
    ag_gradcheck_opts o = {.fast = true, .seed = 7};
    flavour fl = RIGHT;
    ck_assert(ag_gradcheck(f_square, 1, &x, &fl, &o, NULL));
    fl = WRONG_AT_2;
    ag_gradcheck_result r;
    ck_assert(!ag_gradcheck(f_square, 1, &x, &fl, &o, &r));
    ck_assert_int_eq(r.worst[0].index, 2);
    ck_assert_int_eq(r.n_elements, 4); /* one projected row */
    ag_arena_free(A);
}
END_TEST

START_TEST(tolerances_are_pytorchs_and_can_change) {
    /* error 4.04 - 4 = 0.04: fails atol 1e-5 + rtol 1e-3 * 4, passes rtol 0.02 */
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(A, 4, (const double[]){0.5, -1.0, 2.0, 3.0});
    flavour fl = WRONG_AT_2;
    ag_gradcheck_opts o = {.rtol = 0.02};
    ck_assert(ag_gradcheck(f_square, 1, &x, &fl, &o, NULL));
    o.rtol = 0.009;
    ck_assert(!ag_gradcheck(f_square, 1, &x, &fl, &o, NULL));
    ag_arena_free(A);
}
END_TEST

static ag_tensor *f_mul_sum(ag_arena *A, ag_tensor *const *in, int n, void *u) {
    (void)n, (void)u;
    return ag_mul(A, in[0], in[1]);
}

START_TEST(restores_values_and_grads_and_skips_constants) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(A, 3, (const double[]){1.25, -2.5, 3.0});
    ag_tensor *w = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){0.5, 0.25, -1});
    ag_tensor *in[2] = {x, w};
    ag_gradcheck_result r;
    ck_assert(ag_gradcheck(f_mul_sum, 2, in, NULL, NULL, &r));
    ck_assert(r.checked[0] && !r.checked[1]);
    ck_assert_double_eq(((double *)x->data)[0], 1.25);
    ck_assert_double_eq(((double *)x->data)[1], -2.5);
    ck_assert_double_eq(((double *)x->data)[2], 3.0);
    ck_assert_ptr_null(x->grad); /* as before the check */
    ck_assert_ptr_null(w->grad);
    /* and nothing was left in the inputs' arena */
    const size_t used = ag_arena_used(A);
    ck_assert(ag_gradcheck(f_mul_sum, 2, in, NULL, NULL, &r));
    ck_assert_uint_eq(ag_arena_used(A), used);
    ag_arena_free(A);
}
END_TEST

static int reports;
static void count_reports(const char *m, void *u) {
    (void)m, (void)u;
    reports++;
}

START_TEST(refuses_f32_inputs_and_nothing_to_check) {
    ag_arena *A = ag_arena_new(0);
    ag_set_error_handler(count_reports, NULL);
    reports = 0;
    ag_tensor *x32 = ag_ones(A, AG_F32, AG_SHAPE(3));
    ag_set_requires_grad(x32, true);
    ag_tensor *in[2] = {x32, x32};
    ck_assert(!ag_gradcheck(f_mul_sum, 2, in, NULL, NULL, NULL));
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: gradcheck: input 0 [3] is f32"));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "need f64"));
    /* allowed explicitly, with loose tolerances */
    ag_gradcheck_opts o = {.allow_non_f64 = true, .eps = 1e-2, .atol = 1e-2, .rtol = 1e-2};
    ck_assert(ag_gradcheck(f_mul_sum, 2, in, NULL, &o, NULL));
    ag_tensor *c = ag_ones(A, AG_F64, AG_SHAPE(3));
    ag_tensor *cin[2] = {c, c};
    ck_assert(!ag_gradcheck(f_mul_sum, 2, cin, NULL, NULL, NULL));
    ck_assert_int_eq(reports, 2);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "no input requires a gradient"));
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
}
END_TEST

TCase *gradcheck_jacobian_tcase(void) {
    TCase *tc = tcase_create("jacobian");
    tcase_add_test(tc, passes_a_correct_gradient);
    tcase_add_test(tc, catches_a_wrong_element_and_says_where);
    tcase_add_test(tc, catches_a_non_reentrant_backward);
    tcase_add_test(tc, fast_mode_catches_the_same_error);
    tcase_add_test(tc, tolerances_are_pytorchs_and_can_change);
    tcase_add_test(tc, restores_values_and_grads_and_skips_constants);
    tcase_add_test(tc, refuses_f32_inputs_and_nothing_to_check);
    return tc;
}
