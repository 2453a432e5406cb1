/* tests/optim/clip.c — clip_grad_norm (PyTorch's rule: coefficient
 * max_norm/(norm + 1e-6) clamped to 1, returns the norm before clipping) and
 * clip_grad_value, against hand values. */
#include <stdlib.h>

#include "optim_test.h"

/* Gradients [3, 4] and [12]: total norm sqrt(9 + 16 + 144) = 13. */
static void three_four_twelve(ag_arena *P, ag_dtype dt, ag_tensor **a, ag_tensor **b) {
    *a = param_of(P, dt, 2, (double[]){0, 0});
    *b = param_of(P, dt, 1, (double[]){0});
    set_grad(*a, (double[]){3, 4});
    set_grad(*b, (double[]){12});
}

START_TEST(test_norm_clips) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a, *b, *none = param_of(P, AG_F64, 3, (double[]){1, 2, 3}); /* no gradient */
    three_four_twelve(P, AG_F64, &a, &b);
    double total = ag_clip_grad_norm((ag_tensor *[]){a, none, b}, 3, 6.5, false);
    ck_assert(total == 13.0);
    const double c = 6.5 / (13.0 + 1e-6);
    ck_rel(ag_get_flat(a->grad, 0), 3 * c, 1e-15);
    ck_rel(ag_get_flat(a->grad, 1), 4 * c, 1e-15);
    ck_rel(ag_get_flat(b->grad, 0), 12 * c, 1e-15);
    ck_assert_ptr_null(none->grad);
    /* clipped again: the norm 13c is just under 6.5, but 13c + 1e-6 is not,
     * so PyTorch's rule scales once more, by 6.5 / (13c + 1e-6) */
    double again = ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 6.5, false);
    ck_rel(again, 13 * c, 1e-15);
    ck_assert(again < 6.5);
    const double c2 = 6.5 / (13 * c + 1e-6);
    ck_assert(c2 < 1);
    ck_rel(ag_get_flat(b->grad, 0), 12 * c * c2, 1e-15);
    ag_arena_free(P);
}
END_TEST

/* A norm under max_norm leaves the gradients exactly as they were. */
START_TEST(test_norm_under_max) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a, *b;
    three_four_twelve(P, AG_F64, &a, &b);
    ck_assert(ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 13.0, false) == 13.0); /* c < 1 */
    ck_assert(ag_get_flat(a->grad, 0) < 3.0);
    three_four_twelve(P, AG_F64, &a, &b);
    ck_assert(ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 100.0, false) == 13.0);
    ck_assert(ag_get_flat(a->grad, 0) == 3 && ag_get_flat(a->grad, 1) == 4);
    ck_assert(ag_get_flat(b->grad, 0) == 12);
    ag_arena_free(P);
}
END_TEST

/* f32 and bf16 gradients: the sum of squares is taken in double. */
START_TEST(test_norm_dtypes) {
    for (int k = 0; k < 2; k++) {
        ag_dtype dt = k ? AG_BF16 : AG_F32;
        ag_arena *P = ag_arena_new(0);
        ag_tensor *a, *b;
        three_four_twelve(P, dt, &a, &b);
        ck_assert(ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 1.3, false) == 13.0);
        const double c = 1.3 / (13.0 + 1e-6);
        double tol = k ? 4e-3 : 1e-7; /* bf16 keeps 8 significant bits */
        ck_rel(ag_get_flat(a->grad, 0), 3 * c, tol);
        ck_rel(ag_get_flat(b->grad, 0), 12 * c, tol);
        ag_arena_free(P);
    }
    /* a big gradient: 1e6 elements of 1e-3 (f32) have norm 1 */
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = ag_zeros(P, AG_F32, AG_SHAPE(1000000));
    ag_set_requires_grad(p, true);
    p->grad = ag_full(P, AG_F32, AG_SHAPE(1000000), 1e-3);
    double total = ag_clip_grad_norm(&p, 1, 0.5, false);
    const double f = (float)1e-3;
    ck_rel(total, 1000 * f, 1e-11);
    ck_rel(ag_get_flat(p->grad, 999999), f * (0.5 / (1000 * f + 1e-6)), 1e-6);
    ag_arena_free(P);
}
END_TEST

/* A non-finite norm. With error_if_nonfinite it is reported and the
 * gradients are left alone; without, PyTorch's arithmetic: an inf norm
 * gives coefficient 0 (finite entries 0, inf entries NaN), a NaN norm makes
 * every entry NaN. */
START_TEST(test_norm_nonfinite) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a, *b;
    three_four_twelve(P, AG_F64, &a, &b);
    set_grad(a, (double[]){INFINITY, 4});
    expect_errors();
    double total = ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 1.0, true);
    check_error("clip_grad_norm", "inf", "non-finite");
    ck_assert(isinf(total));
    ck_assert(isinf(ag_get_flat(a->grad, 0)) && ag_get_flat(a->grad, 1) == 4);
    ck_assert(ag_get_flat(b->grad, 0) == 12);

    total = ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 1.0, false);
    ck_assert(isinf(total));
    ck_assert(isnan(ag_get_flat(a->grad, 0)));
    ck_assert(ag_get_flat(a->grad, 1) == 0 && ag_get_flat(b->grad, 0) == 0);

    set_grad(a, (double[]){NAN, 4});
    set_grad(b, (double[]){12});
    expect_errors();
    total = ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 1.0, true);
    check_error("clip_grad_norm", "nan", "non-finite");
    ck_assert(isnan(total) && ag_get_flat(b->grad, 0) == 12);
    total = ag_clip_grad_norm((ag_tensor *[]){a, b}, 2, 1.0, false);
    ck_assert(isnan(total));
    ck_assert(isnan(ag_get_flat(a->grad, 1)) && isnan(ag_get_flat(b->grad, 0)));
    ag_arena_free(P);
}
END_TEST

/* No gradient at all: norm 0; bad max_norm: reported, -1. */
START_TEST(test_norm_edges) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, (double[]){1, 2});
    ck_assert(ag_clip_grad_norm(&p, 1, 1.0, true) == 0.0);
    ck_assert(ag_clip_grad_norm(NULL, 0, 1.0, true) == 0.0);
    expect_errors();
    ck_assert(ag_clip_grad_norm(&p, 1, -1.0, false) == -1.0);
    check_error("clip_grad_norm", "max_norm -1", ">= 0");
    expect_errors();
    ck_assert(ag_clip_grad_norm(&p, -1, 1.0, false) == -1.0);
    check_error("clip_grad_norm", "-1 parameters", NULL);
    expect_errors();
    ck_assert(ag_clip_grad_norm((ag_tensor *[]){p, NULL}, 2, 1.0, false) == -1.0);
    ck_assert_int_eq(ag_error_count(), 0); /* a NULL entry: an earlier failure */
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(P);
}
END_TEST

/* Through an optimizer: all of its parameters, every group. */
START_TEST(test_optim_clip) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a, *b;
    three_four_twelve(P, AG_F64, &a, &b);
    ag_optim_group g[2] = {ag_optim_group_of(&a, 1), ag_optim_group_of(&b, 1)};
    ag_optim *o = ag_sgd_new(P, AG_OPTIM_GROUPS(g), NULL);
    ck_assert(ag_optim_clip_grad_norm(o, 6.5, false) == 13.0);
    ck_rel(ag_get_flat(b->grad, 0), 12 * 6.5 / (13.0 + 1e-6), 1e-15);
    ck_assert(ag_optim_clip_grad_value(o, 1.0));
    ck_assert(ag_get_flat(a->grad, 0) == 1.0 && ag_get_flat(b->grad, 0) == 1.0);
    ag_arena_free(P);
}
END_TEST

START_TEST(test_value) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a = param_of(P, AG_F64, 5, (double[]){0, 0, 0, 0, 0});
    ag_tensor *b = param_of(P, AG_F32, 2, (double[]){0, 0});
    set_grad(a, (double[]){-3, 0.5, 2, NAN, -INFINITY});
    set_grad(b, (double[]){1.25, -0.75});
    ck_assert(ag_clip_grad_value((ag_tensor *[]){a, b}, 2, 1.0));
    ck_values(a->grad, 5, ((double[]){-1, 0.5, 1, NAN, -1}), 0);
    ck_values(b->grad, 2, ((double[]){1, -0.75}), 0);
    expect_errors();
    ck_assert(!ag_clip_grad_value(&a, 1, -0.5));
    check_error("clip_grad_value", "clip_value -0.5", NULL);
    ag_arena_free(P);
}
END_TEST

TCase *optim_clip_tcase(void) {
    TCase *tc = tcase_create("clip");
    tcase_add_test(tc, test_norm_clips);
    tcase_add_test(tc, test_norm_under_max);
    tcase_add_test(tc, test_norm_dtypes);
    tcase_add_test(tc, test_norm_nonfinite);
    tcase_add_test(tc, test_norm_edges);
    tcase_add_test(tc, test_optim_clip);
    tcase_add_test(tc, test_value);
    return tc;
}
