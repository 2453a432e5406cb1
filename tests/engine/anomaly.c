/* tests/engine/anomaly.c — anomaly detection (ag_set_detect_anomaly): the
 * first op that produces a NaN or an inf is reported, forward with its
 * caller's line, backward with the line of its forward call; what only
 * travels through is not reported again; off, nothing changes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ag/nn.h>

#include "../ops/ops_test.h"
#include "../check_main.h"
#include "engine_test.h"

static ag_arena *A;
static int reports;

static void setup(void) {
    A = engine_test_start(&reports);
    ag_set_error_handler(count_reports, &reports);
}

static void teardown(void) {
    ag_set_error_handler(NULL, NULL);
    ag_set_detect_anomaly(false);
    ag_arena_free(A);
}

/* The last error holds "(anomaly.c:<line>)" and, when what is given, what. */
static void ck_report(const char *what, int line) {
    char site[48];
    snprintf(site, sizeof site, "anomaly.c:%d)", line);
    ck_assert_msg(strstr(ag_last_error(), site), "'%s' lacks %s", ag_last_error(), site);
    if (what)
        ck_assert_msg(strstr(ag_last_error(), what), "'%s' lacks '%s'", ag_last_error(), what);
}

START_TEST(mode_is_off_by_default_and_returns_the_previous_state) {
    ck_assert(!ag_detect_anomaly());
    ck_assert(!ag_set_detect_anomaly(true));
    ck_assert(ag_detect_anomaly());
    ck_assert(ag_set_detect_anomaly(true));
    ck_assert(ag_set_detect_anomaly(false));
    ck_assert(!ag_detect_anomaly());
}
END_TEST

/* log(-1) is NaN: log is reported with its line, element 1, its shapes, and
 * returns NULL like any op that reports (later ops pass the NULL on without
 * a report). An exp of a tensor that already holds the NaN (made with the
 * mode off) only carries it and is not reported. Both with and without a
 * graph being recorded. */
START_TEST(forward_nan_names_the_op_and_its_line) {
    for (int grad = 0; grad < 2; grad++) {
        ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(3), (double[]){1, -1, 2});
        ag_set_requires_grad(x, grad);
        ag_set_detect_anomaly(true);
        reports = 0;
        const int line = __LINE__ + 1;
        ag_tensor *y = ag_log(A, x);
        ck_assert_int_eq(reports, 1);
        ck_report("ag: log: anomaly: produced nan at element 1 of its output f32 [3] from "
                  "inputs [3] holding no nan or inf", line);
        ck_assert_ptr_null(y);
        ck_assert_ptr_null(ag_exp(A, y));
        ck_assert_int_eq(reports, 1);
        ag_set_detect_anomaly(false);
        ag_tensor *held = ag_log(A, x); /* holds the NaN */
        ag_set_detect_anomaly(true);
        ck_assert(isnan(ag_get_flat(held, 1)));
        ag_tensor *z = ag_exp(A, held);
        ck_assert_ptr_nonnull(z);
        ck_assert(isnan(ag_get_flat(z, 1)));
        ck_assert_int_eq(reports, 1);
    }
}
END_TEST

/* log(0) = -inf from a finite input: reported as inf; 1/x then makes 0 out
 * of -inf (travels, nothing to report); inf - inf = nan is made here. */
START_TEST(forward_inf_and_nan_from_inf) {
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){3, 0});
    ag_set_detect_anomaly(true);
    int line = __LINE__ + 1;
    ck_assert_ptr_null(ag_log(A, x));
    ck_assert_int_eq(reports, 1);
    ck_report("ag: log: anomaly: produced inf at element 1 of its output f64 [2]", line);
    ag_set_detect_anomaly(false);
    ag_tensor *y = ag_log(A, x); /* [log 3, -inf], made with the mode off */
    ag_set_detect_anomaly(true);
    ag_tensor *r = ag_neg(A, y);
    ck_assert_int_eq(reports, 1);
    line = __LINE__ + 1;
    ag_tensor *d = ag_add(A, y, r);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(reports, 2);
    ck_report("ag: add: anomaly: produced nan at element 1 of its output f64 [2] from inputs "
              "[2], [2] holding no nan", line);
}
END_TEST

/* masked_fill with -inf (a causal mask) is the caller's choice, and softmax
 * of a row holding -inf is finite: nothing reported; a row of only -inf
 * makes 0/0 = nan in softmax, which is. */
START_TEST(masked_fill_with_minus_inf_is_not_an_anomaly) {
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 2));
    ag_tensor *m = ag_from_f64(A, AG_I32, AG_SHAPE(2, 2), (double[]){0, 1, 1, 1});
    ag_set_requires_grad(x, true);
    ag_set_detect_anomaly(true);
    ag_tensor *f = ag_masked_fill(A, x, m, -INFINITY);
    ck_assert_int_eq(reports, 0);
    const int line = __LINE__ + 1;
    ck_assert_ptr_null(ag_softmax(A, f, -1));
    ck_assert_int_eq(reports, 1);
    ck_report("ag: softmax: anomaly: produced nan at element 2 of its output f32 [2,2]", line);
    ag_set_detect_anomaly(false);
    ag_tensor *s = ag_softmax(A, f, -1);
    /* row 0: exp(0) / exp(0) and exp(-inf) = 0; row 1: 0 / 0 */
    ck_assert(ag_get_flat(s, 0) == 1 && ag_get_flat(s, 1) == 0);
    ck_assert(isnan(ag_get_flat(s, 2)) && isnan(ag_get_flat(s, 3)));
}
END_TEST

/* d sqrt(x)/dx = 0.5 / sqrt(x) is inf at x = 0, from the finite gradient 1
 * of the sum: sqrt backward is reported, naming sqrt's forward line and the
 * backward call's; backward returns false. */
START_TEST(backward_inf_names_the_op_and_its_forward_line) {
    ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(2), (double[]){0, 4});
    ag_set_requires_grad(x, true);
    ag_set_detect_anomaly(true);
    const int fwd = __LINE__ + 1;
    ag_tensor *y = ag_sqrt(A, x);
    ag_tensor *s = ag_sum(A, y, 0, NULL, false);
    ck_assert_int_eq(reports, 0); /* sqrt(0) = 0: the forward is clean */
    const int bwd = __LINE__ + 1;
    ck_assert(!ag_backward(s, NULL));
    ck_assert_int_eq(reports, 1);
    char fwd_site[64];
    snprintf(fwd_site, sizeof fwd_site, "the forward sqrt was called at anomaly.c:%d", fwd);
    ck_report("ag: sqrt backward: anomaly: produced inf at element 0 of the gradient of "
              "input 0 (f32 [2]) from an output gradient [2] holding no nan or inf", bwd);
    ck_report(fwd_site, bwd);
}
END_TEST

/* Off (the default): the same computations report nothing and give the
 * values of the formulas, NaN and inf included (log(-1) nan, log(2); d sqrt
 * at 0 and 4: inf, 1/4); on, both are reported. */
START_TEST(off_reports_nothing_and_computes_the_same) {
    for (int on = 1; on >= 0; on--) {
        ag_set_detect_anomaly(on);
        ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(2), (double[]){-1, 2});
        ag_tensor *y = ag_log(A, x);
        ag_tensor *w = ag_from_f64(A, AG_F32, AG_SHAPE(2), (double[]){0, 4});
        ag_set_requires_grad(w, true);
        ag_tensor *s = ag_sum(A, ag_sqrt(A, w), 0, NULL, false);
        ck_assert(ag_backward(s, NULL) == !on);
        ck_assert_int_eq(reports, 2); /* log and sqrt backward, both in the pass with it on */
        if (on) {
            ck_assert_ptr_null(y);
            continue;
        }
        ck_assert(isnan(ag_get_flat(y, 0)));
        ck_assert_double_eq_tol(ag_get_flat(y, 1), log(2.0), 1e-6);
        ck_assert(isinf(ag_get_flat(w->grad, 0)));
        ck_assert_double_eq_tol(ag_get_flat(w->grad, 1), 0.25, 1e-7);
    }
}
END_TEST

/* A causal attention block (its mask is masked_fill with -inf), forward and
 * backward, with RMSNorm and with LayerNorm: nothing is reported, and the
 * output and a weight's gradient are those of the same run with it off. */
START_TEST(a_transformer_block_reports_nothing) {
    for (int k = 0; k < 2; k++) {
        ag_tensor *out[2], *grad[2];
        for (int on = 0; on < 2; on++) {
            ag_rng r;
            ag_rng_seed(&r, 5);
            ag_block_config c = {.n_embd = 8, .n_head = 2, .act = AG_ACT_GELU, .bias = true};
            c.norm = k ? (ag_norm_choice)AG_NORM_LAYERNORM
                       : (ag_norm_choice)AG_NORM_RMS(AG_RMSNORM_LLAMA);
            ag_nn_block *b = ag_nn_block_new(A, &r, &c);
            ck_assert_ptr_nonnull(b);
            ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(2, 5, 8), 0.0, 1.0);
            ag_set_detect_anomaly(on);
            ag_tensor *y = ag_nn_block_forward(A, b, x);
            ag_tensor *loss = ag_sum(A, ag_square(A, y), 0, NULL, false);
            ck_assert(ag_backward(loss, NULL));
            ag_set_detect_anomaly(false);
            ck_assert_int_eq(reports, 0);
            out[on] = y;
            grad[on] = b->mlp->down_proj->weight->grad;
            ck_assert_ptr_nonnull(grad[on]);
        }
        ck_assert_int_eq(memcmp(out[0]->data, out[1]->data, 80 * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(grad[0]->data, grad[1]->data,
                                (size_t)grad[0]->numel * sizeof(float)), 0);
    }
}
END_TEST

TCase *engine_anomaly_tcase(void);
TCase *engine_anomaly_tcase(void) {
    TCase *tc = tcase_create("anomaly");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mode_is_off_by_default_and_returns_the_previous_state);
    tcase_add_test(tc, forward_nan_names_the_op_and_its_line);
    tcase_add_test(tc, forward_inf_and_nan_from_inf);
    tcase_add_test(tc, masked_fill_with_minus_inf_is_not_an_anomaly);
    tcase_add_test(tc, backward_inf_names_the_op_and_its_forward_line);
    tcase_add_test(tc, off_reports_nothing_and_computes_the_same);
    tcase_add_test(tc, a_transformer_block_reports_nothing);
    return tc;
}
