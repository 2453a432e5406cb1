/* tests/errors/bad_silent.c — bad calls that once passed without a word or
 * with a misleading message: a NULL arena found only by an allocation, a
 * failed gradient taken for the seed 1, a second report from ag_item, the
 * block size behind an out-of-memory, non-finite or reversed random
 * bounds, tolerances, hyperparameters and norm eps, and tensors used after
 * their arena was reset. One bad call per test; see errors_test.h. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "errors_test.h"

/* A NaN the way a program gets one: computed, not written as NAN. */
static double computed_nan(void) {
    volatile double zero = 0.0;
    return zero / zero;
}

/* ---- a NULL arena, named under the op that was called --------------------- */

START_TEST(concat_with_null_arena) {
    ag_tensor *xs[] = {F32(2, 3), F32(1, 3)};
    ag_tensor *r = ag_concat(NULL, 2, xs, 0); const int line = __LINE__;
    EXPECT_REPORT("concat", line, "arena is NULL");
    expect_null_propagates(r);
}
END_TEST

START_TEST(masked_fill_with_null_arena) {
    ag_tensor *x = F32(2, 3), *m = i32_of(AG_SHAPE(3), (const int32_t[]){1, 0, 1});
    ag_tensor *r = ag_masked_fill(NULL, x, m, 0.0); const int line = __LINE__;
    EXPECT_REPORT("masked_fill", line, "arena is NULL");
    expect_null_propagates(r);
}
END_TEST

START_TEST(where_with_null_arena) {
    ag_tensor *c = i32_of(AG_SHAPE(3), (const int32_t[]){1, 0, 1}), *a = F32(3), *b = F32(3);
    ag_tensor *r = ag_where(NULL, c, a, b); const int line = __LINE__;
    EXPECT_REPORT("where", line, "arena is NULL");
    expect_null_propagates(r);
}
END_TEST

START_TEST(add_with_null_arena_is_reported_as_add) {
    ag_tensor *a = F32(2, 3), *b = F32(3);
    ag_tensor *r = ag_add(NULL, a, b); const int line = __LINE__;
    EXPECT_REPORT("add", line, "arena is NULL");
    expect_null_propagates(r);
}
END_TEST

START_TEST(gelu_with_null_arena_is_reported_as_gelu) {
    ag_tensor *x = F32(4);
    ag_tensor *r = ag_gelu(NULL, x); const int line = __LINE__;
    EXPECT_REPORT("gelu", line, "arena is NULL");
    expect_null_propagates(r);
}
END_TEST

START_TEST(matmul_with_null_arena_is_reported_as_matmul) {
    ag_tensor *a = F32(2, 3), *b = F32(3, 4);
    ag_tensor *r = ag_matmul(NULL, a, b); const int line = __LINE__;
    EXPECT_REPORT("matmul", line, "arena is NULL");
    expect_null_propagates(r);
}
END_TEST

/* Call i of null_arena_named_by_the_op into *r; returns its line. */
static int call_with_null_arena(int i, ag_tensor *x, ag_tensor *xb, ag_tensor *xbt,
                                ag_tensor **r) {
    switch (i) {
    case 0: *r = ag_reshape(NULL, x, AG_SHAPE(6)); return __LINE__;
    case 1: *r = ag_unsqueeze(NULL, x, 0); return __LINE__;
    case 2: *r = ag_squeeze(NULL, x, 0); return __LINE__;
    case 3: *r = ag_mul_scalar(NULL, x, 2.0); return __LINE__;
    default: *r = ag_matmul(NULL, xb, xbt); return __LINE__;
    }
}

/* Ops whose NULL arena was reported under another op's name (view,
 * scalar, cast) or twice (a bf16 matmul). */
START_TEST(null_arena_named_by_the_op) {
    ag_tensor *x = F32(2, 3), *xb = ag_cast(A, x, AG_BF16), *xbt = ag_cast(A, F32(3, 2), AG_BF16);
    const char *ops[] = {"reshape", "unsqueeze", "squeeze", "mul_scalar", "matmul"};
    for (int i = 0; i < 5; i++) {
        ag_clear_error();
        reports = 0;
        ag_tensor *r = NULL;
        const int line = call_with_null_arena(i, x, xb, xbt, &r);
        EXPECT_REPORT(ops[i], line, "arena is NULL");
        ck_assert_ptr_null(r);
    }
}
END_TEST

/* ---- a failed op's NULL: propagated, never the seed 1 --------------------- */

START_TEST(backward_from_a_failed_gradient_does_not_run) {
    ag_tensor *x = F32(3);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_sum(A, ag_mul(A, x, x), 0, NULL, false);
    ck_assert_ptr_nonnull(y);
    ag_tensor *a = F32(2), *b = F32(3);
    ag_tensor *g = ag_add(A, a, b); const int line = __LINE__; /* fails */
    EXPECT_REPORT("add", line, "[2]", "[3]");
    ck_assert(!ag_backward_from(y, g));
    /* no second report, and nothing ran: with the seed 1 x would have a
     * gradient 2x */
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_null(x->grad);
    /* with a real gradient it runs: d(sum x^2)/dx * 3 = 6x */
    ck_assert(ag_backward_from(y, ag_scalar(A, AG_F32, 3.0)));
    ck_assert_ptr_nonnull(x->grad);
    for (int64_t i = 0; i < 3; i++)
        ck_assert_float_eq_tol(ag_get_flat(x->grad, i), 6.0 * 0.1 * (double)i, 1e-6);
    ck_assert_int_eq(reports, 1);
}
END_TEST

START_TEST(item_of_a_failed_op_reports_nothing_more) {
    ag_tensor *a = F32(2), *b = F32(5);
    ag_tensor *r = ag_sub(A, a, b); const int line = __LINE__;
    EXPECT_REPORT("sub", line, "[2]", "[5]");
    ck_assert(isnan(ag_item(r)));
    ck_assert_int_eq(reports, 1);
    ck_assert_int_eq(ag_error_count(), 1);
}
END_TEST

/* ---- out of memory names the block it tried ------------------------------- */

START_TEST(arena_alloc_names_the_block_size) {
#if defined(__SANITIZE_ADDRESS__)
    /* ASan stops the process on a 1 PiB request instead of returning NULL */
    return;
#else
    ag_arena *B = ag_arena_new((size_t)1 << 50);
    ck_assert_ptr_nonnull(B);
    void *p = ag_arena_alloc(B, 64); const int line = __LINE__;
    ck_assert_ptr_null(p);
    EXPECT_REPORT("arena_alloc", line, "out of memory", "1125899906842624", "64");
    ag_arena_free(B);
#endif
}
END_TEST

/* ---- random bounds -------------------------------------------------------- */

/* ag_rand(lo = a, hi = b), or ag_randn(mean = a, std = b) when normal. */
START_TEST(random_fills_with_bad_bounds) {
    const struct {
        bool normal;
        double a, b;
        const char *needles[3];
    } rows[] = {
        {false, 1.0, -1.0, {"lo = 1", "hi = -1", "lo <= hi"}},
        {false, 0.0, computed_nan(), {"hi = nan|hi = -nan", "finite", "[2,3]"}},
        {false, -INFINITY, 0.0, {"lo = -inf", "finite", "[2,3]"}},
        {true, 0.0, -0.5, {"std = -0.5", ">= 0", "[2,3]"}},
        {true, 0.0, computed_nan(), {"std = nan|std = -nan", ">= 0", "[2,3]"}},
        {true, INFINITY, 1.0, {"mean = inf", "finite mean", "[2,3]"}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ag_clear_error();
        reports = 0;
        ag_rng g;
        ag_rng_seed(&g, 1);
        const double a = rows[i].a, b = rows[i].b;
        ag_tensor *r = NULL;
        int line;
        if (rows[i].normal) {
            r = ag_randn(A, &g, AG_F32, AG_SHAPE(2, 3), a, b); line = __LINE__;
        } else {
            r = ag_rand(A, &g, AG_F32, AG_SHAPE(2, 3), a, b); line = __LINE__;
        }
        EXPECT_REPORT(rows[i].normal ? "randn" : "rand", line, rows[i].needles[0],
                      rows[i].needles[1], rows[i].needles[2]);
        expect_null_propagates(r);
    }
}
END_TEST

/* ---- gradcheck tolerances ------------------------------------------------- */

static ag_tensor *square_sum(ag_arena *B, ag_tensor *const *in, int n, void *ud) {
    (void)n;
    (void)ud;
    return ag_sum_(B, ag_mul_(B, in[0], in[0]), 0, NULL, false);
}

/* ag_gradcheck with opts o on one f64 input: refused, with needle in the
 * report, and nothing run. */
static void gradcheck_refuses(ag_gradcheck_opts o, const char *needle) {
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){1, 2, 3});
    ag_set_requires_grad(x, true);
    ag_gradcheck_result res;
    bool ok = ag_gradcheck(square_sum, 1, &x, NULL, &o, &res); const int line = __LINE__;
    ck_assert(!ok);
    ck_assert(!res.pass);
    EXPECT_REPORT("gradcheck", line, needle, "finite numbers >= 0");
    ck_assert_ptr_null(x->grad); /* nothing ran */
}

START_TEST(gradcheck_with_nan_eps) {
    gradcheck_refuses((ag_gradcheck_opts){.eps = computed_nan()}, "eps nan|eps -nan");
}
END_TEST

START_TEST(gradcheck_with_nan_atol) {
    gradcheck_refuses((ag_gradcheck_opts){.atol = computed_nan()}, "atol nan|atol -nan");
}
END_TEST

START_TEST(gradcheck_with_negative_eps) {
    gradcheck_refuses((ag_gradcheck_opts){.eps = -1e-6}, "eps -1e-06");
}
END_TEST

/* ---- optimizer hyperparameters -------------------------------------------- */

static ag_optim_group one_param_group(void) {
    static ag_tensor *p[1];
    p[0] = F32(3);
    ag_set_requires_grad(p[0], true);
    return ag_optim_group_of(p, 1);
}

START_TEST(adamw_with_infinite_lr) {
    ag_optim_group g = one_param_group();
    ag_adam_opts o = ag_adamw_defaults();
    o.lr = INFINITY;
    ag_optim *opt = ag_adamw_new(A, ag_optim_groups_one(&g), &o); const int line = __LINE__;
    ck_assert_ptr_null(opt);
    EXPECT_REPORT("adamw_new", line, "learning rate inf", "finite");
}
END_TEST

/* Every type's other hyperparameters, through the constructor they share. */
START_TEST(optimizers_with_non_finite_hyperparameters) {
    ag_optim_group g = one_param_group();
    ag_adam_opts adam = ag_adam_defaults();
    ag_sgd_opts sgd = ag_sgd_defaults();
    ag_rmsprop_opts rmsprop = ag_rmsprop_defaults();
    ag_adagrad_opts adagrad = ag_adagrad_defaults();
    adam.eps = computed_nan();
    sgd.lr = INFINITY;
    rmsprop.alpha = INFINITY;
    adagrad.lr_decay = -INFINITY;
    const struct {
        const ag_optim_type *type;
        const void *opts;
        const char *needle;
    } rows[] = {
        {&ag_adam_type, &adam, "epsilon nan|epsilon -nan"},
        {&ag_sgd_type, &sgd, "learning rate inf"},
        {&ag_rmsprop_type, &rmsprop, "alpha inf"},
        {&ag_adagrad_type, &adagrad, "lr_decay -inf"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ag_clear_error();
        reports = 0;
        const ag_optim_type *t = rows[i].type;
        ag_optim *opt = ag_optim_new(A, t, rows[i].opts, ag_optim_groups_one(&g), 1e-3, 0.0); const int line = __LINE__;
        ck_assert_ptr_null(opt);
        EXPECT_REPORT("optim_new", line, rows[i].needle, "finite");
    }
}
END_TEST

START_TEST(set_lr_to_infinity) {
    ag_optim_group g = one_param_group();
    ag_optim *opt = ag_sgd_new(A, ag_optim_groups_one(&g), NULL);
    ck_assert_ptr_nonnull(opt);
    bool ok = ag_optim_set_lr(opt, INFINITY); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("optim_set_lr", line, "learning rate inf", "finite");
}
END_TEST

/* a step schedule with gamma = inf would make every lr inf after step_size */
START_TEST(step_schedule_with_infinite_gamma) {
    const ag_schedule s = ag_schedule_step(10, INFINITY);
    const double f = ag_schedule_factor(&s, 20); const int line = __LINE__;
    ck_assert(isnan(f));
    EXPECT_REPORT("schedule_factor", line, "gamma inf", "finite");
}
END_TEST

/* clipping keeps PyTorch's max_norm = inf: the norm, no clipping */
START_TEST(clip_with_infinite_max_norm_is_no_clipping) {
    ag_tensor *p = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){0, 0});
    ag_set_requires_grad(p, true);
    p->grad = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){3, 4});
    ck_assert_double_eq(ag_clip_grad_norm(&p, 1, INFINITY, false), 5.0);
    ck_assert_double_eq(ag_get_flat(p->grad, 0), 3.0);
    ck_assert_double_eq(ag_get_flat(p->grad, 1), 4.0);
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* ---- norm eps: only AG_EPS_DEFAULT is the default ------------------------- */

START_TEST(layernorm_with_computed_nan_eps) {
    const double eps = computed_nan();
    ag_nn_layernorm *m = ag_nn_layernorm_new(A, AG_SHAPE(4), eps, true, true); const int line = __LINE__;
    ck_assert_ptr_null(m);
    EXPECT_REPORT("nn_layernorm_new", line, "LayerNorm", "finite number");
}
END_TEST

START_TEST(rmsnorm_with_plain_nan_eps) {
    const ag_rmsnorm_kind k = AG_RMSNORM_LLAMA;
    ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(A, k, AG_SHAPE(4), NAN, true); const int line = __LINE__;
    ck_assert_ptr_null(m);
    EXPECT_REPORT("nn_rmsnorm_new", line, "finite number");
}
END_TEST

START_TEST(norm_choice_with_nan_eps) {
    ag_norm_choice c = {&ag_nn_layernorm_type, computed_nan()};
    ag_module *m = ag_norm_new(A, c, 4); const int line = __LINE__;
    ck_assert_ptr_null(m);
    EXPECT_REPORT("norm_new", line, "LayerNorm", "finite number");
}
END_TEST

START_TEST(eps_default_is_told_apart_from_other_nans) {
    ck_assert(ag_eps_is_default(AG_EPS_DEFAULT));
    ck_assert(!ag_eps_is_default(NAN));
    ck_assert(!ag_eps_is_default(-NAN));
    ck_assert(!ag_eps_is_default(computed_nan()));
    ck_assert(!ag_eps_is_default(INFINITY - INFINITY));
    ck_assert(!ag_eps_is_default(1e-5));
    /* the default still takes PyTorch's values: 1e-5 (LayerNorm), 1e-6 (Llama) */
    ag_nn_layernorm *l = ag_nn_layernorm_new(A, AG_SHAPE(4), AG_EPS_DEFAULT, true, true);
    ck_assert_double_eq(l->eps, 1e-5);
    ag_norm_choice c = AG_NORM_RMS(AG_RMSNORM_LLAMA);
    ag_nn_rmsnorm *r = (ag_nn_rmsnorm *)ag_norm_new(A, c, 4);
    ck_assert_double_eq(r->eps, 1e-6);
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* ---- tensors used after their arena was reset ----------------------------- */

#if !defined(__SANITIZE_ADDRESS__) /* see the registration below */
START_TEST(op_on_a_tensor_from_before_a_reset) {
    ag_arena *S = ag_arena_new(0);
    ag_tensor *x = ag_ones(S, AG_F32, AG_SHAPE(2, 3));
    ag_arena_reset(S);
    ag_tensor *y = F32(2, 3);
    ag_tensor *z = ag_add(A, x, y); const int line = __LINE__;
    EXPECT_REPORT("add", line, "[2,3]", "made before its arena was reset");
    ck_assert_ptr_null(z); /* the op that reported returns NULL */
    ag_arena_free(S);
}
END_TEST

START_TEST(backward_through_a_graph_from_before_a_reset) {
    ag_tensor *w = F32(3); /* a parameter, in the long-lived arena */
    ag_set_requires_grad(w, true);
    ag_arena *S = ag_arena_new(0);
    ag_tensor *loss = ag_sum(S, ag_mul(S, w, w), 0, NULL, false);
    ck_assert_ptr_nonnull(loss);
    ag_arena_reset(S);
    bool ok = ag_backward(loss, NULL); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("backward", line, "[]", "made before its arena was reset");
    ck_assert_ptr_null(w->grad); /* nothing ran */
    ag_arena_free(S);
}
END_TEST

START_TEST(item_of_a_loss_from_before_a_reset) {
    ag_arena *S = ag_arena_new(0);
    ag_tensor *loss = ag_sum(S, ag_ones(S, AG_F32, AG_SHAPE(4)), 0, NULL, false);
    ag_arena_reset(S);
    double v = ag_item(loss); const int line = __LINE__;
    ck_assert(isnan(v));
    EXPECT_REPORT("item", line, "f32 tensor []", "made before its arena was reset");
    ag_arena_free(S);
}
END_TEST
#endif

START_TEST(tensors_made_after_a_reset_are_fine) {
    ag_arena *S = ag_arena_new(0);
    (void)ag_ones(S, AG_F32, AG_SHAPE(2, 3));
    ag_arena_reset(S);
    ag_tensor *w = F32(3);
    ag_set_requires_grad(w, true);
    ag_tensor *loss = ag_sum(S, ag_mul(S, w, w), 0, NULL, false);
    ck_assert(ag_backward(loss, NULL));
    for (int64_t i = 0; i < 3; i++)
        ck_assert_float_eq_tol(ag_get_flat(w->grad, i), 2 * 0.1 * (double)i, 1e-6);
    ck_assert_int_eq(reports, 0);
    ag_arena_free(S);
}
END_TEST

TCase *errors_silent_tcase(void) {
    TCase *tc = tcase_create("silent");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_add_test(tc, concat_with_null_arena);
    tcase_add_test(tc, masked_fill_with_null_arena);
    tcase_add_test(tc, where_with_null_arena);
    tcase_add_test(tc, add_with_null_arena_is_reported_as_add);
    tcase_add_test(tc, gelu_with_null_arena_is_reported_as_gelu);
    tcase_add_test(tc, matmul_with_null_arena_is_reported_as_matmul);
    tcase_add_test(tc, null_arena_named_by_the_op);
    tcase_add_test(tc, backward_from_a_failed_gradient_does_not_run);
    tcase_add_test(tc, item_of_a_failed_op_reports_nothing_more);
    tcase_add_test(tc, arena_alloc_names_the_block_size);
    tcase_add_test(tc, random_fills_with_bad_bounds);
    tcase_add_test(tc, gradcheck_with_nan_eps);
    tcase_add_test(tc, gradcheck_with_nan_atol);
    tcase_add_test(tc, gradcheck_with_negative_eps);
    tcase_add_test(tc, adamw_with_infinite_lr);
    tcase_add_test(tc, optimizers_with_non_finite_hyperparameters);
    tcase_add_test(tc, set_lr_to_infinity);
    tcase_add_test(tc, step_schedule_with_infinite_gamma);
    tcase_add_test(tc, clip_with_infinite_max_norm_is_no_clipping);
    tcase_add_test(tc, layernorm_with_computed_nan_eps);
    tcase_add_test(tc, rmsnorm_with_plain_nan_eps);
    tcase_add_test(tc, norm_choice_with_nan_eps);
    tcase_add_test(tc, eps_default_is_told_apart_from_other_nans);
#if !defined(__SANITIZE_ADDRESS__)
    /* Under ASan a reset arena is poisoned, so reading the stale tensor is
     * itself reported as use-after-poison (tests/arena checks that): the
     * epoch check is for the builds without ASan. */
    tcase_add_test(tc, op_on_a_tensor_from_before_a_reset);
    tcase_add_test(tc, backward_through_a_graph_from_before_a_reset);
    tcase_add_test(tc, item_of_a_loss_from_before_a_reset);
#endif
    tcase_add_test(tc, tensors_made_after_a_reset_are_fine);
    return tc;
}
