/* tests/ops/nonfinite.c — what softmax, log_softmax, cross_entropy,
 * mse_loss and the losses of ag/loss.h give for NaN and +-inf inputs
 * (documented in ag/ops.h and ag/loss.h, the same as PyTorch). Expected
 * values from the formulas: softmax(x) = exp(x - m) / sum exp(x - m) with m
 * the row's max, so +inf in a row gives inf - inf = NaN everywhere, -inf
 * gives exp(-inf) = 0, a row of only -inf 0/0 = NaN. */
#include "ops_test.h"

static const double NaN = NAN, INF = INFINITY;

/* Row r of a [4, 3] result: NaN everywhere, or the given values. */
static void ck_row(const ag_tensor *t, int r, const double *want) {
    for (int c = 0; c < 3; c++) {
        const double got = ag_get_flat(t, 3 * r + c);
        if (!want) ck_assert_msg(isnan(got), "row %d col %d: %g, expected nan", r, c, got);
        else if (isinf(want[c])) ck_assert(got == want[c]);
        else ck_close(got, want[c], 1e-12);
    }
}

START_TEST(test_softmax_nonfinite_rows) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(4, 3), (const double[]){
        1, NaN, 2, 1, INF, 2, 1, -INF, 2, -INF, -INF, -INF});
    ag_tensor *s = ag_softmax(A, x, -1), *l = ag_log_softmax(A, x, -1);
    const double e = exp(1.0), lse = log(e + e * e);
    for (int r = 0; r < 4; r++) {
        ck_row(s, r, r == 2 ? (const double[]){1 / (1 + e), 0, e / (1 + e)} : NULL);
        ck_row(l, r, r == 2 ? (const double[]){1 - lse, -INF, 2 - lse} : NULL);
    }
    ag_arena_free(A);
}
END_TEST

/* loss = logsumexp(x) - x[target]: [0, -inf] gives 0 - (-inf) = inf for
 * target 1 and 0 for target 0 (gradient softmax - onehot = [0, 0]); a NaN
 * logit or a +inf one (inf - inf) gives NaN. mse of an inf difference: inf. */
START_TEST(test_losses_nonfinite) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *t0 = ag_from_array(A, AG_I32, AG_SHAPE(1), (const int32_t[]){0});
    ag_tensor *t1 = ag_from_array(A, AG_I32, AG_SHAPE(1), (const int32_t[]){1});
    for (int dt = 0; dt < 2; dt++) {
        const ag_dtype d = dt ? AG_F64 : AG_F32;
        ag_tensor *m = ag_from_f64(A, d, AG_SHAPE(1, 2), (const double[]){0, -INF});
        ag_set_requires_grad(m, true);
        ck_assert(ag_item(ag_cross_entropy(A, m, t1, -100)) == INF);
        ag_tensor *l0 = ag_cross_entropy(A, m, t0, -100);
        ck_close(ag_item(l0), 0, 0);
        ck_assert(ag_backward(l0, NULL));
        ck_values(m->grad, 2, ((const double[]){0, 0}), 0);
        ag_tensor *n = ag_from_f64(A, d, AG_SHAPE(1, 2), (const double[]){0, NaN});
        ck_assert(isnan(ag_item(ag_cross_entropy(A, n, t0, -100))));
        ag_tensor *p = ag_from_f64(A, d, AG_SHAPE(1, 2), (const double[]){0, INF});
        ck_assert(isnan(ag_item(ag_cross_entropy(A, p, t1, -100))));
        ag_tensor *a = ag_from_f64(A, d, AG_SHAPE(2), (const double[]){INF, 1});
        ag_tensor *b = ag_zeros(A, d, AG_SHAPE(2));
        ck_assert(ag_item(ag_mse_loss(A, a, b)) == INF);
        ag_tensor *c = ag_from_f64(A, d, AG_SHAPE(2), (const double[]){NaN, 1});
        ck_assert(isnan(ag_item(ag_mse_loss(A, c, b))));
    }
    ag_arena_free(A);
}
END_TEST

/* The losses of ag/loss.h. Elementwise: an inf difference gives inf (l1,
 * smooth_l1, huber; mse 'none'), NaN gives NaN. bce_with_logits by its
 * formula (1 - y) x - log_sigmoid(x): +inf with y < 1 is inf, +inf with y = 1
 * is 0 * inf = NaN, -inf is -inf + inf = NaN. Class losses: an ignored
 * position is 0 whatever its row holds; a -inf target logit gives inf. */
START_TEST(test_option_losses_nonfinite) {
    ag_arena *A = ag_arena_new(0);
    for (int dt = 0; dt < 2; dt++) {
        const ag_dtype d = dt ? AG_F64 : AG_F32;
        ag_tensor *a = ag_from_f64(A, d, AG_SHAPE(3), (const double[]){INF, -INF, NaN});
        ag_tensor *z = ag_zeros(A, d, AG_SHAPE(3));
        ag_tensor *ls[] = {ag_l1_loss(A, a, z, AG_REDUCE_NONE),
                           ag_smooth_l1_loss(A, a, z, AG_REDUCE_NONE, 1),
                           ag_huber_loss(A, a, z, AG_REDUCE_NONE, 1),
                           ag_mse_loss_ex(A, a, z, AG_REDUCE_NONE)};
        for (int k = 0; k < 4; k++) {
            ck_assert(ag_get_flat(ls[k], 0) == INF && ag_get_flat(ls[k], 1) == INF);
            ck_assert(isnan(ag_get_flat(ls[k], 2)));
        }
        ck_assert(isnan(ag_item(ag_l1_loss(A, a, z, AG_REDUCE_SUM)))); /* inf + inf + NaN */
        ag_tensor *x = ag_from_f64(A, d, AG_SHAPE(4), (const double[]){INF, INF, -INF, NaN});
        ag_tensor *y = ag_from_f64(A, d, AG_SHAPE(4), (const double[]){0.5, 1, 0, 0});
        ag_tensor *b = ag_binary_cross_entropy_with_logits(
            A, x, y, &(ag_bce_with_logits_opts){.reduction = AG_REDUCE_NONE});
        ck_assert(ag_get_flat(b, 0) == INF);
        for (int i = 1; i < 4; i++) ck_assert(isnan(ag_get_flat(b, i)));
        /* row 0 ignored holds NaN and -inf; row 1 has a -inf target logit; row 2 is plain */
        ag_tensor *lg = ag_from_f64(A, d, AG_SHAPE(3, 3),
                                    (const double[]){-INF, NaN, 1, 0, -INF, 0, 0, 0, 0});
        ag_tensor *t = ag_from_array(A, AG_I32, AG_SHAPE(3), (const int32_t[]){-100, 1, 2});
        const ag_cross_entropy_opts o = {.weight = ag_ones(A, d, AG_SHAPE(3)),
                                         .reduction = AG_REDUCE_NONE, .ignore_index = -100};
        ag_tensor *l = ag_cross_entropy_ex(A, lg, t, &o);
        ck_close(ag_get_flat(l, 0), 0, 0);
        ck_assert(ag_get_flat(l, 1) == INF);
        ck_close(ag_get_flat(l, 2), log(3.0), 1e-6);
        ag_tensor *nl = ag_nll_loss(A, lg, t, &(ag_nll_loss_opts){.ignore_index = -100});
        ck_assert(ag_item(nl) == INF); /* (0 + inf + 0) / 2 */
    }
    ag_arena_free(A);
}
END_TEST

TCase *ops_nonfinite_tcase(void) {
    TCase *tc = tcase_create("nonfinite");
    tcase_add_test(tc, test_softmax_nonfinite_rows);
    tcase_add_test(tc, test_losses_nonfinite);
    tcase_add_test(tc, test_option_losses_nonfinite);
    return tc;
}
