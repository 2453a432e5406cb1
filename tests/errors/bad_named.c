/* tests/errors/bad_named.c — reports name the public function the caller
 * called (not a helper it went through), random fills refuse what they
 * cannot make, and tensors from before their arena's reset are refused by
 * every function that reads them. One bad call per check; see errors_test.h
 * for what every report must look like. */
#include <float.h>
#include <math.h>

#include "errors_test.h"

/* A float leaf [2,2] and an i32 one, and a non-leaf made from the first. */
static ag_tensor *leaf22(void) { return F32(2, 2); }
static ag_tensor *i32_22(void) { return i32_of(AG_SHAPE(2, 2), (const int32_t[]){0, 1, 2, 3}); }
static ag_tensor *nonleaf22(void) {
    ag_tensor *w = leaf22();
    ag_set_requires_grad(w, true);
    return ag_mul_scalar(A, w, 2.0);
}

/* ---- the op named is the one called ---------------------------------------- */

START_TEST(copy_into_a_null_arena_is_copy) {
    ag_tensor *x = F32(2);
    ag_tensor *y = ag_copy(NULL, x); const int line = __LINE__;
    ck_assert_ptr_null(y);
    EXPECT_REPORT("copy", line, "arena is NULL");
}
END_TEST

/* init_ones and init_zeros fill through init_constant, under their names. */
START_TEST(init_ones_and_zeros_are_named) {
    static const char *const want[3][3] = {{"init_ones", "i32 [2,2]", "float leaf"},
                                           {"init_zeros", "f32 [2,2]", "float leaf"},
                                           {"init_ones", "tensor is NULL", "NULL"}};
    for (int k = 0; k < 3; k++) {
        errors_teardown();
        errors_setup();
        bool ok = true;
        int line = 0;
        switch (k) {
        case 0: ok = ag_init_ones(i32_22()); line = __LINE__; break;
        case 1: ok = ag_init_zeros(nonleaf22()); line = __LINE__; break;
        default: ok = ag_init_ones(NULL); line = __LINE__; break;
        }
        ck_assert(!ok);
        EXPECT_REPORT(want[k][0], line, want[k][1], want[k][2]);
    }
}
END_TEST

START_TEST(init_post_norm_of_i32_is_init_post_norm) {
    ag_tensor *t = i32_22();
    ag_rng r;
    ag_rng_seed(&r, 1);
    bool ok = ag_init_post_norm(t, &r); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("init_post_norm", line, "i32 [2,2]", "float leaf");
}
END_TEST

START_TEST(init_kaiming_with_nan_a_names_a) {
    ag_tensor *t = leaf22();
    ag_rng r;
    ag_rng_seed(&r, 1);
    bool ok = ag_init_kaiming_uniform(t, &r, NAN); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("init_kaiming_uniform", line, "a = nan", "[2,2]");
    ck_assert_ptr_null(strstr(reported, "-nan"));
}
END_TEST

START_TEST(linear_too_large_is_nn_linear_new) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_nn_linear *l = ag_nn_linear_new(A, &r, 1LL << 40, 1LL << 40, true); const int line = __LINE__;
    ck_assert_ptr_null(l);
    EXPECT_REPORT("nn_linear_new", line, "[1099511627776,1099511627776]", "too large");
}
END_TEST

START_TEST(module_list_append_of_null_is_module_list_append) {
    ag_module_list *l = ag_module_list_new(A);
    bool ok = ag_module_list_append(l, NULL); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("module_list_append", line, "NULL");
}
END_TEST

START_TEST(module_list_append_of_itself_is_module_list_append) {
    ag_module_list *l = ag_module_list_new(A);
    bool ok = ag_module_list_append(l, &l->base); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("module_list_append", line, "cycle");
}
END_TEST

/* ---- random fills: finite, ordered, and within the dtype ------------------- */

/* Bounds ag_rand and ag_randn refuse, given to the initialisers. */
START_TEST(init_with_non_finite_bounds) {
    static const char *const want[4][3] = {{"init_normal", "mean = inf", "finite mean"},
                                           {"init_normal", "mean = nan", "finite mean"},
                                           {"init_normal", "std = inf", "finite std >= 0"},
                                           {"init_uniform", "hi = inf", "finite"}};
    for (int k = 0; k < 4; k++) {
        errors_teardown();
        errors_setup();
        ag_tensor *t = leaf22();
        ag_rng r;
        ag_rng_seed(&r, 1);
        bool ok = true;
        int line = 0;
        switch (k) {
        case 0: ok = ag_init_normal(t, &r, INFINITY, 1.0); line = __LINE__; break;
        case 1: ok = ag_init_normal(t, &r, NAN, 1.0); line = __LINE__; break;
        case 2: ok = ag_init_normal(t, &r, 0.0, INFINITY); line = __LINE__; break;
        default: ok = ag_init_uniform(t, &r, 0.0, INFINITY); line = __LINE__; break;
        }
        ck_assert(!ok);
        EXPECT_REPORT(want[k][0], line, want[k][1], want[k][2]);
    }
}
END_TEST

/* Bounds whose values, or whose width hi - lo, the dtype cannot hold. */
START_TEST(rand_bounds_the_dtype_cannot_hold) {
    static const struct {
        ag_dtype dt;
        double lo, hi;
        const char *needle;
    } cases[4] = {{AG_F64, -DBL_MAX, DBL_MAX, "hi - lo exceeds the largest f64"},
                  {AG_F32, 1e39, 2e39, "outside the range of f32"},
                  {AG_F32, -3e38, 3e38, "hi - lo exceeds the largest f32"},
                  {AG_BF16, -2e38, 2e38, "hi - lo exceeds the largest bf16"}};
    for (int k = 0; k < 4; k++) {
        errors_teardown();
        errors_setup();
        ag_rng r;
        ag_rng_seed(&r, 1);
        ag_tensor *t = ag_rand(A, &r, cases[k].dt, AG_SHAPE(8), cases[k].lo, cases[k].hi); const int line = __LINE__;
        ck_assert_ptr_null(t);
        EXPECT_REPORT("rand", line, "[8]", cases[k].needle);
    }
}
END_TEST

START_TEST(init_uniform_f32_over_the_whole_double_range) {
    ag_tensor *t = leaf22();
    ag_rng r;
    ag_rng_seed(&r, 1);
    bool ok = ag_init_uniform(t, &r, -DBL_MAX, DBL_MAX); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("init_uniform", line, "[2,2]", "outside the range of f32");
}
END_TEST

/* The widest f32 range that is allowed gives finite values inside it. */
START_TEST(rand_f32_wide_but_representable_is_finite) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tensor *t = ag_rand(A, &r, AG_F32, AG_SHAPE(256), -1.5e38, 1.5e38);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < t->numel; i++) {
        const double v = ag_get_flat(t, i);
        ck_assert(v >= -1.5e38 && v <= 1.5e38);
    }
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(rand_of_an_unknown_dtype_says_unknown_dtype) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tensor *t = ag_rand(A, &r, (ag_dtype)-1, AG_SHAPE(2), 0.0, 1.0); const int line = __LINE__;
    ck_assert_ptr_null(t);
    EXPECT_REPORT("rand", line, "unknown dtype -1");
}
END_TEST

/* A NaN with its sign bit set (0 * inf and most computed NaNs) is "nan". */
START_TEST(a_negative_nan_is_printed_nan) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    const double neg_nan = copysign(NAN, -1.0);
    ag_tensor *t = ag_randn(A, &r, AG_F32, AG_SHAPE(2), neg_nan, 1.0); const int line = __LINE__;
    ck_assert_ptr_null(t);
    EXPECT_REPORT("randn", line, "mean = nan,");
    ck_assert_ptr_null(strstr(reported, "-nan"));
}
END_TEST

/* arange to i32 finds an end past i32 before making anything. */
START_TEST(arange_i32_past_int32_is_refused_up_front) {
    const size_t used = ag_arena_used(A);
    ag_tensor *t = ag_arange(A, AG_I32, 0.0, 2.5e9, 1.0); const int line = __LINE__;
    ck_assert_ptr_null(t);
    EXPECT_REPORT("arange", line, "cannot be converted to i32");
    ck_assert_uint_eq(ag_arena_used(A), used);
}
END_TEST

/* ---- clipping and losses: wording --------------------------------------------- */

START_TEST(clip_value_message_allows_inf) {
    ag_tensor *p = F32(2);
    ag_set_requires_grad(p, true);
    ag_tensor *ps[1] = {p};
    bool ok = ag_clip_grad_value(ps, 1, -1.0); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("clip_grad_value", line, "clip_value -1", "inf: no clipping");
    ck_assert_ptr_null(strstr(reported, "finite"));
}
END_TEST

START_TEST(cross_entropy_without_classes_says_so) {
    ag_tensor *logits = ag_zeros(A, AG_F32, AG_SHAPE(2, 0));
    ag_tensor *target = i32_of(AG_SHAPE(2), (const int32_t[]){0, 0});
    ag_tensor *l = ag_cross_entropy(A, logits, target, -100); const int line = __LINE__;
    ck_assert_ptr_null(l);
    EXPECT_REPORT("cross_entropy", line, "has no classes");
    ck_assert_ptr_null(strstr(reported, "0..-1"));
}
END_TEST

/* ---- tensors made before their arena's reset -------------------------------- */

#if !defined(__SANITIZE_ADDRESS__) /* ASan reports the read itself: see bad_silent.c */
/* A [2] f32 tensor from an arena that was reset since (S is left to the
 * fixture's teardown through the list below). */
static ag_arena *stale_arenas[8];
static int nstale;
static ag_tensor *stale2(void) {
    ag_arena *S = ag_arena_new(0);
    stale_arenas[nstale++] = S;
    ag_tensor *t = ag_ones(S, AG_F32, AG_SHAPE(2));
    ag_arena_reset(S);
    return t;
}
static void free_stale(void) {
    while (nstale > 0) ag_arena_free(stale_arenas[--nstale]);
}

static void expect_stale(const char *op, int line) {
    EXPECT_REPORT(op, line, "f32 tensor [2]", "made before its arena was reset");
    free_stale();
}

/* The functions that read a tensor without making a graph node. */
START_TEST(stale_reads) {
    static const char *const names[8] = {"copy", "get", "argmax", "masked_fill", "where",
                                         "set_requires_grad", "detach", "adamw_new"};
    for (int k = 0; k < 8; k++) {
        errors_teardown();
        errors_setup();
        ag_tensor *s = stale2(), *x = F32(2);
        ag_optim_group g = ag_optim_group_of(&s, 1);
        const void *r = NULL; /* what the call returned: its failure value */
        int line = 0;
        switch (k) {
        case 0: r = ag_copy(A, s); line = __LINE__; break;
        case 1: r = isnan(ag_get_flat(s, 0)) ? NULL : x; line = __LINE__; break;
        case 2: r = ag_argmax(A, s, 0, false); line = __LINE__; break;
        case 3: r = ag_masked_fill(A, x, s, 0.0); line = __LINE__; break;
        case 4: r = ag_where(A, s, x, x); line = __LINE__; break;
        case 5: ag_set_requires_grad(s, true); line = __LINE__; break;
        case 6: r = ag_detach(A, s); line = __LINE__; break;
        default: r = ag_adamw_new(A, ag_optim_groups_one(&g), NULL); line = __LINE__; break;
        }
        ck_assert_ptr_null(r);
        expect_stale(names[k], line);
    }
}
END_TEST

/* Every initialiser, under its own name. */
START_TEST(stale_init) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    static const char *const names[7] = {"init_constant", "init_ones", "init_zeros",
                                         "init_uniform", "init_normal",
                                         "init_kaiming_uniform", "init_post_norm"};
    for (int k = 0; k < 7; k++) {
        errors_teardown();
        errors_setup();
        ag_tensor *s = stale2();
        bool ok = true;
        int line = 0;
        switch (k) {
        case 0: ok = ag_init_constant(s, 2.0); line = __LINE__; break;
        case 1: ok = ag_init_ones(s); line = __LINE__; break;
        case 2: ok = ag_init_zeros(s); line = __LINE__; break;
        case 3: ok = ag_init_uniform(s, &r, 0, 1); line = __LINE__; break;
        case 4: ok = ag_init_normal(s, &r, 0, 1); line = __LINE__; break;
        case 5: ok = ag_init_kaiming_uniform(s, &r, 0); line = __LINE__; break;
        default: ok = ag_init_post_norm(s, &r); line = __LINE__; break;
        }
        ck_assert(!ok);
        expect_stale(names[k], line);
    }
}
END_TEST

/* The scalar ops report under their own names, not add/sub/mul/div. */
START_TEST(stale_scalar_ops) {
    static const char *const names[6] = {"add_scalar", "sub_scalar", "mul_scalar",
                                         "div_scalar", "rsub_scalar", "rdiv_scalar"};
    for (int k = 0; k < 6; k++) {
        errors_teardown();
        errors_setup();
        ag_tensor *s = stale2(), *r = NULL;
        int line = 0;
        switch (k) {
        case 0: r = ag_add_scalar(A, s, 1); line = __LINE__; break;
        case 1: r = ag_sub_scalar(A, s, 1); line = __LINE__; break;
        case 2: r = ag_mul_scalar(A, s, 1); line = __LINE__; break;
        case 3: r = ag_div_scalar(A, s, 1); line = __LINE__; break;
        case 4: r = ag_rsub_scalar(A, 1, s); line = __LINE__; break;
        default: r = ag_rdiv_scalar(A, 1, s); line = __LINE__; break;
        }
        ck_assert_ptr_null(r);
        expect_stale(names[k], line);
    }
}
END_TEST
#endif

TCase *errors_named_tcase(void) {
    TCase *tc = tcase_create("named");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_add_test(tc, copy_into_a_null_arena_is_copy);
    tcase_add_test(tc, init_ones_and_zeros_are_named);
    tcase_add_test(tc, init_post_norm_of_i32_is_init_post_norm);
    tcase_add_test(tc, init_kaiming_with_nan_a_names_a);
    tcase_add_test(tc, linear_too_large_is_nn_linear_new);
    tcase_add_test(tc, module_list_append_of_null_is_module_list_append);
    tcase_add_test(tc, module_list_append_of_itself_is_module_list_append);
    tcase_add_test(tc, init_with_non_finite_bounds);
    tcase_add_test(tc, rand_bounds_the_dtype_cannot_hold);
    tcase_add_test(tc, init_uniform_f32_over_the_whole_double_range);
    tcase_add_test(tc, rand_f32_wide_but_representable_is_finite);
    tcase_add_test(tc, rand_of_an_unknown_dtype_says_unknown_dtype);
    tcase_add_test(tc, a_negative_nan_is_printed_nan);
    tcase_add_test(tc, arange_i32_past_int32_is_refused_up_front);
    tcase_add_test(tc, clip_value_message_allows_inf);
    tcase_add_test(tc, cross_entropy_without_classes_says_so);
#if !defined(__SANITIZE_ADDRESS__)
    tcase_add_test(tc, stale_reads);
    tcase_add_test(tc, stale_init);
    tcase_add_test(tc, stale_scalar_ops);
#endif
    return tc;
}
