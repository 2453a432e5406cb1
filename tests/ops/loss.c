/* tests/ops/loss.c — the losses of ag/loss.h, each option against values
 * computed by hand or by PyTorch's formula in f64 here (log_softmax,
 * log sigmoid written out with libm): reductions, weights, pos_weight,
 * ignore_index, label smoothing, probability targets; gradients; shapes,
 * dtypes; bad inputs. */
#include "ops_test.h"

static const ag_reduction REDS[3] = {AG_REDUCE_MEAN, AG_REDUCE_SUM, AG_REDUCE_NONE};

/* reduce n per-element values the way `red` says; the mean divides by div */
static double reduced(const double *v, int n, ag_reduction red, double div) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return red == AG_REDUCE_SUM ? s : s / div;
}

/* checks a loss result against per-element values v[n] under red */
static void ck_loss(const ag_tensor *l, const double *v, int n, ag_reduction red, double div,
                    double tol) {
    ck_assert_ptr_nonnull(l);
    if (red == AG_REDUCE_NONE) {
        ck_values(l, n, v, tol);
    } else {
        ck_assert_int_eq(l->ndim, 0);
        ck_close(ag_item(l), reduced(v, n, red, div), tol);
    }
}

/* ---- elementwise losses ------------------------------------------------------
 * input {1, -2, 0.5, 3}, target {0, 1, 0.5, 1}: d = {1, -3, 0, 2}. */
static const double IN4[] = {1, -2, 0.5, 3}, TG4[] = {0, 1, 0.5, 1};

START_TEST(test_pointwise_values) {
    ag_arena *A = ag_arena_new(0);
    const double mse[] = {1, 9, 0, 4}, l1[] = {1, 3, 0, 2};
    const double sl1_b1[] = {0.5, 2.5, 0, 1.5};    /* |d| < 1: d^2/2, else |d| - 1/2 */
    const double sl1_b25[] = {0.2, 1.75, 0, 0.8};  /* d^2/5 or |d| - 1.25 */
    const double huber[] = {0.5, 3.375, 0, 1.875}; /* d^2/2 or 1.5 (|d| - 0.75) */
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 1e-6 : 1e-15;
        ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(2, 2), IN4);
        ag_tensor *y = ag_from_f64(A, dt, AG_SHAPE(2, 2), TG4);
        for (int r = 0; r < 3; r++) {
            const ag_reduction red = REDS[r];
            ag_tensor *got[] = {
                ag_mse_loss_ex(A, x, y, red),         ag_l1_loss(A, x, y, red),
                ag_smooth_l1_loss(A, x, y, red, 1.0), ag_smooth_l1_loss(A, x, y, red, 2.5),
                ag_smooth_l1_loss(A, x, y, red, 0.0), ag_huber_loss(A, x, y, red, 1.5)};
            const double *want[] = {mse, l1, sl1_b1, sl1_b25, l1, huber};
            for (int k = 0; k < 6; k++) {
                ck_assert_int_eq(got[k]->dtype, dt);
                if (red == AG_REDUCE_NONE) ck_shape(got[k], 2, ((const int64_t[]){2, 2}));
                ck_loss(got[k], want[k], 4, red, 4, tol);
            }
        }
    }
    /* the short form is the mean */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(4), IN4);
    ag_tensor *y = ag_from_f64(A, AG_F64, AG_SHAPE(4), TG4);
    ck_close(ag_item(ag_mse_loss(A, x, y)), 3.5, 1e-15);
    /* a target that broadcasts to the input: [2] against [2,2]: rows minus {0, 1} */
    ag_tensor *x22 = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), IN4);
    ag_tensor *row = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){0, 1});
    ck_close(ag_item(ag_mse_loss_ex(A, x22, row, AG_REDUCE_SUM)), 1 + 9 + 0.25 + 4, 1e-15);
    ck_values(ag_l1_loss(A, x22, ag_scalar(A, AG_F64, 1), AG_REDUCE_NONE), 4,
              ((const double[]){0, 3, 0.5, 2}), 0);
    /* bf16 computes in f32 and rounds: d^2 of small integers is exact */
    ag_tensor *xb = ag_from_f64(A, AG_BF16, AG_SHAPE(4), IN4);
    ag_tensor *yb = ag_from_f64(A, AG_BF16, AG_SHAPE(4), TG4);
    ag_tensor *lb = ag_mse_loss_ex(A, xb, yb, AG_REDUCE_SUM);
    ck_assert_int_eq(lb->dtype, AG_BF16);
    ck_close(ag_item(lb), 14, 0);
    ck_values(ag_huber_loss(A, xb, yb, AG_REDUCE_NONE, 1.5), 4, huber, 0);
    /* empty: mean NaN, sum 0 */
    ag_tensor *e = ag_zeros(A, AG_F64, AG_SHAPE(0));
    ck_assert(isnan(ag_item(ag_l1_loss(A, e, e, AG_REDUCE_MEAN))));
    ck_close(ag_item(ag_mse_loss_ex(A, e, e, AG_REDUCE_SUM)), 0, 0);
    ag_arena_free(A);
}
END_TEST

/* Gradients of the sum: mse 2d, l1 sign(d) (0 at d = 0), smooth_l1 d/beta or
 * sign(d), huber d or delta sign(d); the target gets the negation; the
 * mean divides by 4. */
START_TEST(test_pointwise_gradients) {
    ag_arena *A = ag_arena_new(0);
    const double g_mse[] = {2, -6, 0, 4}, g_l1[] = {1, -1, 0, 1};
    const double g_sl1[] = {1, -1, 0, 1}, g_sl1_b25[] = {0.4, -1, 0, 0.8};
    const double g_huber[] = {1, -1.5, 0, 1.5};
    const double *want[] = {g_mse, g_l1, g_sl1, g_sl1_b25, g_huber};
    for (int k = 0; k < 5; k++) {
        for (int mean = 0; mean < 2; mean++) {
            ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(4), IN4);
            ag_tensor *y = ag_from_f64(A, AG_F64, AG_SHAPE(4), TG4);
            ag_set_requires_grad(x, true);
            ag_set_requires_grad(y, true);
            const ag_reduction red = mean ? AG_REDUCE_MEAN : AG_REDUCE_SUM;
            ag_tensor *l = k == 0   ? ag_mse_loss_ex(A, x, y, red)
                           : k == 1 ? ag_l1_loss(A, x, y, red)
                           : k == 2 ? ag_smooth_l1_loss(A, x, y, red, 1.0)
                           : k == 3 ? ag_smooth_l1_loss(A, x, y, red, 2.5)
                                    : ag_huber_loss(A, x, y, red, 1.5);
            ck_assert(ag_backward(l, NULL));
            const double s = mean ? 0.25 : 1.0;
            for (int i = 0; i < 4; i++) {
                ck_close(ag_get_flat(x->grad, i), s * want[k][i], 1e-15);
                ck_close(ag_get_flat(y->grad, i), -s * want[k][i], 1e-15);
            }
        }
    }
    ag_arena_free(A);
}
END_TEST

/* ---- binary_cross_entropy_with_logits ---------------------------------------- */

static double log_sigmoid_ref(double x) { return -log1p(exp(-x)); } /* fine for |x| <= 30 */
static double sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }

START_TEST(test_bce_values) {
    ag_arena *A = ag_arena_new(0);
    const double xs[] = {-1, 0, 2, 0.5}, ys[] = {0, 1, 0.25, 0.6}, ws[] = {1, 2, 0.5, 3};
    const double pws[] = {3, 0.5}; /* pos_weight [2], along the last dim of [2,2] */
    double plain[4], both[4], gx[4], gy[4];
    for (int i = 0; i < 4; i++) {
        /* -(p y log s(x) + (1 - y) log(1 - s(x))), log(1 - s(x)) = log s(-x) */
        const double p = pws[i % 2], lsx = log_sigmoid_ref(xs[i]), lsn = log_sigmoid_ref(-xs[i]);
        plain[i] = -(ys[i] * lsx + (1 - ys[i]) * lsn);
        both[i] = -ws[i] * (p * ys[i] * lsx + (1 - ys[i]) * lsn);
        /* d/dx = w (s(x) (p y + 1 - y) - p y); d/dy = w (log s(-x) - p log s(x)) */
        gx[i] = ws[i] * (sigmoid_ref(xs[i]) * (p * ys[i] + 1 - ys[i]) - p * ys[i]);
        gy[i] = ws[i] * (-p * lsx + lsn);
    }
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 2e-6 : 1e-14;
        ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(2, 2), xs);
        ag_tensor *y = ag_from_f64(A, dt, AG_SHAPE(2, 2), ys);
        ag_tensor *w = ag_from_f64(A, dt, AG_SHAPE(2, 2), ws);
        ag_tensor *pw = ag_from_f64(A, dt, AG_SHAPE(2), pws);
        for (int r = 0; r < 3; r++) {
            ag_bce_with_logits_opts o = AG_BCE_WITH_LOGITS_DEFAULTS;
            o.reduction = REDS[r];
            ck_loss(ag_binary_cross_entropy_with_logits(A, x, y, &o), plain, 4, REDS[r], 4, tol);
            o.weight = w;
            o.pos_weight = pw;
            ck_loss(ag_binary_cross_entropy_with_logits(A, x, y, &o), both, 4, REDS[r], 4, tol);
        }
        ck_loss(ag_binary_cross_entropy_with_logits(A, x, y, NULL), plain, 4, AG_REDUCE_MEAN, 4,
                tol);
    }
    /* gradients of the sum with both weights, to the logits and the target */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), xs);
    ag_tensor *y = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), ys);
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(y, true);
    const ag_bce_with_logits_opts o = {.weight = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), ws),
                                       .pos_weight = ag_from_f64(A, AG_F64, AG_SHAPE(2), pws),
                                       .reduction = AG_REDUCE_SUM};
    ck_assert(ag_backward(ag_binary_cross_entropy_with_logits(A, x, y, &o), NULL));
    ck_values(x->grad, 4, gx, 1e-14);
    ck_values(y->grad, 4, gy, 1e-14);
    /* logits of +-100: the stable form gives 100 (the plain formula would give inf) */
    ag_tensor *big = ag_from_f64(A, AG_F32, AG_SHAPE(2), (const double[]){100, -100});
    ag_tensor *t01 = ag_from_f64(A, AG_F32, AG_SHAPE(2), (const double[]){0, 1});
    ck_values(ag_binary_cross_entropy_with_logits(
                  A, big, t01, &(ag_bce_with_logits_opts){.reduction = AG_REDUCE_NONE}),
              2, ((const double[]){100, 100}), 0);
    ag_arena_free(A);
}
END_TEST

/* ---- nll_loss ------------------------------------------------------------------
 * input [3,3] of log-probabilities, targets {0, 2, 1}, weight {1, 2, 3}:
 * -w[t] x[t] = {1, 7.5, 0.4}; the weighted mean divides by 1 + 3 + 2. */
static const double NLL_X[] = {-1, -2, -3, -0.5, -1.5, -2.5, -0.1, -0.2, -0.3};

START_TEST(test_nll_values) {
    ag_arena *A = ag_arena_new(0);
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 1e-6 : 1e-15;
        ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(3, 3), NLL_X);
        ag_tensor *t = ag_from_array(A, AG_I32, AG_SHAPE(3), (const int32_t[]){0, 2, 1});
        ag_tensor *w = ag_from_f64(A, dt, AG_SHAPE(3), (const double[]){1, 2, 3});
        for (int r = 0; r < 3; r++) {
            ag_nll_loss_opts o = AG_NLL_LOSS_DEFAULTS;
            o.reduction = REDS[r];
            ck_loss(ag_nll_loss(A, x, t, &o), (const double[]){1, 2.5, 0.2}, 3, REDS[r], 3, tol);
            o.weight = w;
            ck_loss(ag_nll_loss(A, x, t, &o), (const double[]){1, 7.5, 0.4}, 3, REDS[r], 6, tol);
            o.ignore_index = 2; /* position 1 ignored: its loss is 0, its weight leaves the mean */
            ck_loss(ag_nll_loss(A, x, t, &o), (const double[]){1, 0, 0.4}, 3, REDS[r], 3, tol);
        }
        ck_close(ag_item(ag_nll_loss(A, x, t, NULL)), 3.7 / 3, tol);
    }
    /* every target ignored: mean NaN (0/0), sum 0 */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(3, 3), NLL_X);
    ag_tensor *none = ag_full(A, AG_I32, AG_SHAPE(3), -100);
    ck_assert(isnan(ag_item(ag_nll_loss(A, x, none, NULL))));
    ck_close(
        ag_item(ag_nll_loss(A, x, none,
                            &(ag_nll_loss_opts){.reduction = AG_REDUCE_SUM, .ignore_index = -100})),
        0, 0);
    /* gradient of the weighted mean: -w[t] / 6 at each target, 0 elsewhere */
    ag_set_requires_grad(x, true);
    ag_tensor *t = ag_from_array(A, AG_I32, AG_SHAPE(3), (const int32_t[]){0, 2, 1});
    const ag_nll_loss_opts o = {.weight =
                                    ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){1, 2, 3}),
                                .ignore_index = -100};
    ck_assert(ag_backward(ag_nll_loss(A, x, t, &o), NULL));
    ck_values(x->grad, 9, ((const double[]){-1. / 6, 0, 0, 0, 0, -3. / 6, 0, -2. / 6, 0}), 1e-15);
    /* a [C] input with a 0-d target; [N, C, d] with [N, d] and 'none' keeps [N, d] */
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){-1, -2, -3});
    ck_close(
        ag_item(ag_nll_loss(A, v, ag_from_array(A, AG_I32, 0, NULL, (const int32_t[]){1}), NULL)),
        2, 0);
    ag_tensor *x3 =
        ag_from_f64(A, AG_F64, AG_SHAPE(1, 3, 2), (const double[]){-1, -2, -3, -4, -5, -6});
    ag_tensor *t3 = ag_from_array(A, AG_I32, AG_SHAPE(1, 2), (const int32_t[]){2, 0});
    ag_tensor *l3 = ag_nll_loss(
        A, x3, t3, &(ag_nll_loss_opts){.reduction = AG_REDUCE_NONE, .ignore_index = -100});
    ck_shape(l3, 2, ((const int64_t[]){1, 2}));
    ck_values(l3, 2, ((const double[]){5, 2}), 0);
    ag_arena_free(A);
}
END_TEST

/* ---- cross_entropy_ex ----------------------------------------------------------
 * logits {{1,2,3},{1,0,-1}}, targets {2, 0}, weight {0.5, 1, 2}; lp =
 * log_softmax by the formula x - log(sum exp x). */
static const double CE_X[] = {1, 2, 3, 1, 0, -1}, CE_W[] = {0.5, 1, 2};

static void log_softmax_rows(const double *x, int n, int C, double *lp) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < C; c++)
            s += exp(x[i * C + c]);
        for (int c = 0; c < C; c++)
            lp[i * C + c] = x[i * C + c] - log(s);
    }
}

/* The PyTorch formula for class indices (ignored: t < 0), per position and
 * the mean's divisor: (1 - s) (-w[t] lp[t]) + (s / C) (-sum_c w[c] lp[c]). */
static void ce_ref(const double *lp, const int *t, const double *w, double s, double *v,
                   double *div) {
    *div = 0;
    for (int i = 0; i < 2; i++) {
        if (t[i] < 0) {
            v[i] = 0;
            continue;
        }
        double smooth = 0;
        for (int c = 0; c < 3; c++)
            smooth -= w[c] * lp[i * 3 + c];
        v[i] = (1 - s) * -w[t[i]] * lp[i * 3 + t[i]] + s / 3 * smooth;
        *div += w[t[i]];
    }
}

START_TEST(test_ce_options) {
    ag_arena *A = ag_arena_new(0);
    double lp[6];
    log_softmax_rows(CE_X, 2, 3, lp);
    const double ones[] = {1, 1, 1};
    const int targets[2][2] = {{2, 0}, {2, -100}};
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 2e-6 : 1e-14;
        ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(2, 3), CE_X);
        ag_tensor *w = ag_from_f64(A, dt, AG_SHAPE(3), CE_W);
        for (int ti = 0; ti < 2; ti++) {
            ag_tensor *t = ag_from_array(A, AG_I32, AG_SHAPE(2),
                                         (const int32_t[]){targets[ti][0], targets[ti][1]});
            const double smooth[] = {0, 0.2, 1};
            for (int si = 0; si < 3; si++) {
                for (int wi = 0; wi < 2; wi++) {
                    for (int r = 0; r < 3; r++) {
                        ag_cross_entropy_opts o = AG_CROSS_ENTROPY_DEFAULTS;
                        o.reduction = REDS[r];
                        o.label_smoothing = smooth[si];
                        o.weight = wi ? w : NULL;
                        double v[2], div;
                        ce_ref(lp, targets[ti], wi ? CE_W : ones, smooth[si], v, &div);
                        ag_tensor *l = ag_cross_entropy_ex(A, x, t, &o);
                        ck_assert_int_eq(l->dtype, dt);
                        ck_loss(l, v, 2, REDS[r], div, tol);
                    }
                }
            }
        }
    }
    /* NULL options: the fused ag_cross_entropy, mean of -lp[t] */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), CE_X);
    ag_tensor *t = ag_from_array(A, AG_I32, AG_SHAPE(2), (const int32_t[]){2, 0});
    ck_close(ag_item(ag_cross_entropy_ex(A, x, t, NULL)), -(lp[2] + lp[3]) / 2, 1e-15);
    ag_arena_free(A);
}
END_TEST

/* Probability targets: -sum_c w[c] y'[c] lp[c] per position, y' = (1 - s) y +
 * s / C; the mean divides by the number of positions, not the weights. */
START_TEST(test_ce_probabilities) {
    ag_arena *A = ag_arena_new(0);
    double lp[6];
    log_softmax_rows(CE_X, 2, 3, lp);
    const double ys[] = {0.1, 0.2, 0.7, 0.5, 0.5, 0};
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 2e-6 : 1e-14;
        ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(2, 3), CE_X);
        ag_tensor *y = ag_from_f64(A, dt, AG_SHAPE(2, 3), ys);
        for (int wi = 0; wi < 2; wi++) {
            for (int si = 0; si < 2; si++) {
                const double s = si ? 0.2 : 0;
                double v[2] = {0, 0};
                for (int i = 0; i < 2; i++)
                    for (int c = 0; c < 3; c++)
                        v[i] -=
                            (wi ? CE_W[c] : 1) * ((1 - s) * ys[i * 3 + c] + s / 3) * lp[i * 3 + c];
                for (int r = 0; r < 3; r++) {
                    const ag_cross_entropy_opts o = {
                        .weight = wi ? ag_from_f64(A, dt, AG_SHAPE(3), CE_W) : NULL,
                        .reduction = REDS[r],
                        .ignore_index = -100,
                        .label_smoothing = s};
                    ck_loss(ag_cross_entropy_ex(A, x, y, &o), v, 2, REDS[r], 2, tol);
                }
            }
        }
    }
    /* the gradient of the mean to the logits: (softmax * sum(y) - y) / N per row;
     * the rows of y sum to 1 and 1 */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), CE_X);
    ag_set_requires_grad(x, true);
    ck_assert(ag_backward(
        ag_cross_entropy_ex(A, x, ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), ys), NULL), NULL));
    for (int i = 0; i < 6; i++)
        ck_close(ag_get_flat(x->grad, i), (exp(lp[i]) - ys[i]) / 2, 1e-15);
    /* no classes: each of the 4 positions sums over nothing, 0, so the mean
     * is 0 (PyTorch's (lp * y').sum(1).mean()), with smoothing too; no
     * positions: the mean is 0/0, NaN */
    for (int si = 0; si < 2; si++) {
        const ag_cross_entropy_opts o = {.reduction = AG_REDUCE_MEAN, .ignore_index = -100,
                                         .label_smoothing = si ? 0.1 : 0};
        ag_tensor *none = ag_zeros(A, AG_F32, AG_SHAPE(4, 0));
        ag_tensor *l = ag_cross_entropy_ex(A, none, ag_zeros(A, AG_F32, AG_SHAPE(4, 0)), &o);
        ck_assert_ptr_nonnull(l);
        ck_assert_msg(ag_item(l) == 0, "no classes: mean %g, expected 0", ag_item(l));
        ag_tensor *empty = ag_zeros(A, AG_F32, AG_SHAPE(0, 3));
        l = ag_cross_entropy_ex(A, empty, ag_zeros(A, AG_F32, AG_SHAPE(0, 3)), &o);
        ck_assert_ptr_nonnull(l);
        ck_assert(isnan(ag_item(l)));
    }
    ag_arena_free(A);
}
END_TEST

/* [N, C, d] logits with [N, d] targets: 'none' keeps [N, d]; a [C] input
 * with a 0-d target gives a 0-d 'none'. */
START_TEST(test_ce_shapes) {
    ag_arena *A = ag_arena_new(0);
    /* [1,3,2]: position 0 has logits {1, 2, 3} (stride 2), position 1 {1, 0, -1} */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(1, 3, 2), (const double[]){1, 1, 2, 0, 3, -1});
    ag_tensor *t = ag_from_array(A, AG_I32, AG_SHAPE(1, 2), (const int32_t[]){2, 0});
    double lp[6];
    log_softmax_rows(CE_X, 2, 3, lp);
    const ag_cross_entropy_opts o = {
        .reduction = AG_REDUCE_NONE, .ignore_index = -100, .label_smoothing = 0.2};
    ag_tensor *l = ag_cross_entropy_ex(A, x, t, &o);
    ck_shape(l, 2, ((const int64_t[]){1, 2}));
    const double ones[] = {1, 1, 1};
    double v[2], div;
    ce_ref(lp, (const int[]){2, 0}, ones, 0.2, v, &div);
    ck_values(l, 2, v, 1e-15);
    ag_tensor *x1 = ag_from_f64(A, AG_F64, AG_SHAPE(3), CE_X);
    ag_tensor *l1 =
        ag_cross_entropy_ex(A, x1, ag_from_array(A, AG_I32, 0, NULL, (const int32_t[]){2}), &o);
    ck_assert_int_eq(l1->ndim, 0);
    ck_close(ag_item(l1), v[0], 1e-15);
    /* bf16 logits: computed in f32, the result rounded to bf16 */
    ag_tensor *xb = ag_from_f64(A, AG_BF16, AG_SHAPE(2, 3), CE_X);
    ag_tensor *tb = ag_from_array(A, AG_I32, AG_SHAPE(2), (const int32_t[]){2, 0});
    ag_tensor *lb = ag_cross_entropy_ex(
        A, xb, tb, &(ag_cross_entropy_opts){.reduction = AG_REDUCE_SUM, .ignore_index = -100});
    ck_assert_int_eq(lb->dtype, AG_BF16);
    ck_close(ag_item(lb), -(lp[2] + lp[3]), 1e-2);
    ag_arena_free(A);
}
END_TEST

/* Bad inputs, one report each, naming the loss and what is wrong. */
START_TEST(test_loss_errors) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3)), *y = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *t = ag_from_array(A, AG_I32, AG_SHAPE(2), (const int32_t[]){0, 2});
    ag_tensor *w4 = ag_ones(A, AG_F32, AG_SHAPE(4));
    struct {
        const char *op, *s1, *s2;
    } want[] = {
        {"l1_loss", "reduction 7 is unknown", "AG_REDUCE_NONE"},
        {"smooth_l1_loss", "beta is -1", ">= 0"},
        {"huber_loss", "delta is 0", "> 0"},
        {"huber_loss", "input [4,1] and target [4] would broadcast to [4,4]", "reshape the target"},
        {"binary_cross_entropy_with_logits", "pos_weight [4]", "[2,3]"},
        {"nll_loss", "weight [4]", "3 classes"},
        {"nll_loss", "target value 5", "expected 0..2 or ignore_index -100"},
        {"cross_entropy", "label_smoothing is 1.5", "[0, 1]"},
        {"cross_entropy", "label_smoothing is -0.1", "[0, 1]"},
        {"cross_entropy", "weight [4]", "expected a weight [3]"},
        {"cross_entropy", "probability target [2,2]", "logits [2,3]"},
        {"cross_entropy", "ignore_index 0", "class indices only"},
        {"cross_entropy", "reduction -1 is unknown", NULL},
        {"cross_entropy", "target [3]", "[2,3]"},
    };
    const int n = sizeof want / sizeof want[0];
    for (int k = 0; k < n; k++) {
        expect_errors();
        ag_tensor *r = x;
        ag_cross_entropy_opts ce = AG_CROSS_ENTROPY_DEFAULTS;
        switch (k) {
        case 0: r = ag_l1_loss(A, x, y, (ag_reduction)7); break;
        case 1: r = ag_smooth_l1_loss(A, x, y, AG_REDUCE_MEAN, -1); break;
        case 2: r = ag_huber_loss(A, x, y, AG_REDUCE_MEAN, 0); break;
        case 3:
            r = ag_huber_loss(A, ag_zeros(A, AG_F32, AG_SHAPE(4, 1)),
                              ag_zeros(A, AG_F32, AG_SHAPE(4)), AG_REDUCE_MEAN, 1);
            break;
        case 4:
            r = ag_binary_cross_entropy_with_logits(A, x, y,
                                                    &(ag_bce_with_logits_opts){.pos_weight = w4});
            break;
        case 5:
            r = ag_nll_loss(A, x, t, &(ag_nll_loss_opts){.weight = w4, .ignore_index = -100});
            break;
        case 6:
            r = ag_nll_loss(A, x, ag_from_array(A, AG_I32, AG_SHAPE(2), (const int32_t[]){0, 5}),
                            NULL);
            break;
        case 7:
            ce.label_smoothing = 1.5;
            r = ag_cross_entropy_ex(A, x, t, &ce);
            break;
        case 8:
            ce.label_smoothing = -0.1;
            r = ag_cross_entropy_ex(A, x, t, &ce);
            break;
        case 9:
            ce.weight = w4;
            r = ag_cross_entropy_ex(A, x, t, &ce);
            break;
        case 10: r = ag_cross_entropy_ex(A, x, ag_zeros(A, AG_F32, AG_SHAPE(2, 2)), &ce); break;
        case 11:
            ce.ignore_index = 0;
            r = ag_cross_entropy_ex(A, x, y, &ce);
            break;
        case 12:
            ce.reduction = (ag_reduction)-1;
            r = ag_cross_entropy_ex(A, x, t, &ce);
            break;
        default:
            ce.label_smoothing = 0.1;
            r = ag_cross_entropy_ex(
                A, x, ag_from_array(A, AG_I32, AG_SHAPE(3), (const int32_t[]){0, 1, 2}), &ce);
            break;
        }
        ck_assert_msg(r == NULL, "case %d returned a tensor", k);
        ck_assert_int_eq(ag_error_count(), 1);
        check_error(want[k].op, want[k].s1, want[k].s2);
    }
    /* NULL in: NULL out, no report */
    ag_clear_error();
    ck_assert_ptr_null(ag_l1_loss(A, NULL, y, AG_REDUCE_MEAN));
    ck_assert_ptr_null(ag_cross_entropy_ex(A, x, NULL, NULL));
    ck_assert_ptr_null(ag_binary_cross_entropy_with_logits(A, NULL, y, NULL));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_arena_free(A);
}
END_TEST

TCase *ops_loss_tcase(void) {
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, test_pointwise_values);
    tcase_add_test(tc, test_pointwise_gradients);
    tcase_add_test(tc, test_bce_values);
    tcase_add_test(tc, test_nll_values);
    tcase_add_test(tc, test_ce_options);
    tcase_add_test(tc, test_ce_probabilities);
    tcase_add_test(tc, test_ce_shapes);
    tcase_add_test(tc, test_loss_errors);
    return tc;
}
