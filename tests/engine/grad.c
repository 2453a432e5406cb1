/* tests/engine/grad.c — ag/grad.h: the scoped no-grad block (left normally,
 * by break, by continue, nested, and inside an off mode), and reading,
 * making and setting a gradient before the first backward. */
#include <string.h>

#include "../ops/ops_test.h"
#include "engine_test.h"

static ag_arena *A;
static int reports;

static void setup(void) { A = engine_test_start(&reports); }

static void teardown(void) { engine_test_end(A); }

START_TEST(no_grad_block_restores_the_mode) {
    ag_tensor *x = ag_ones(A, AG_F32, AG_SHAPE(2));
    ag_set_requires_grad(x, true);
    int runs = 0;
    AG_NO_GRAD {
        ck_assert(!ag_grad_enabled());
        ag_tensor *y = ag_mul(A, x, x);
        ck_assert(ag_is_leaf(y) && !y->requires_grad);
        runs++;
    }
    ck_assert_int_eq(runs, 1);
    ck_assert(ag_grad_enabled());
    ck_assert(!ag_is_leaf(ag_mul(A, x, x)));
    /* break and continue leave the block with the mode restored */
    AG_NO_GRAD {
        runs++;
        if (runs == 2) break;
        ck_abort_msg("break did not leave the block");
    }
    ck_assert_int_eq(runs, 2);
    ck_assert(ag_grad_enabled());
    AG_NO_GRAD {
        runs++;
        if (runs == 3) continue;
        ck_abort_msg("continue did not leave the block");
    }
    ck_assert_int_eq(runs, 3);
    ck_assert(ag_grad_enabled());
    /* inside a loop of the caller's, break leaves the block, not the loop */
    int iterations = 0;
    for (int i = 0; i < 3; i++) {
        AG_NO_GRAD {
            if (i == 1) break;
        }
        ck_assert(ag_grad_enabled());
        iterations++;
    }
    ck_assert_int_eq(iterations, 3);
    /* nested blocks; an enabling block inside a no-grad one; each restores
     * the mode it found */
    AG_NO_GRAD {
        AG_NO_GRAD { ck_assert(!ag_grad_enabled()); }
        ck_assert(!ag_grad_enabled());
        AG_ENABLE_GRAD {
            ck_assert(ag_grad_enabled());
            ck_assert(!ag_is_leaf(ag_mul(A, x, x)));
        }
        ck_assert(!ag_grad_enabled());
    }
    ck_assert(ag_grad_enabled());
    /* started with the mode off: the block leaves it off */
    ag_set_grad_enabled(false);
    AG_NO_GRAD { runs++; }
    ck_assert(!ag_grad_enabled());
    ag_set_grad_enabled(true);
}
END_TEST

/* Before backward a parameter has no gradient (None); ag_grad_buffer makes
 * a zeroed one that backward then adds into. */
START_TEST(grad_before_the_first_backward) {
    ag_tensor *w = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 2});
    ag_set_requires_grad(w, true);
    ck_assert_ptr_null(ag_grad_of(w));
    ck_assert_ptr_null(ag_grad_of(NULL));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_tensor *g = ag_grad_buffer(w);
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_eq(ag_grad_of(w), g);
    ck_assert_ptr_eq(g->arena, w->arena);
    ck_assert_int_eq(g->dtype, AG_F64);
    ck_values(g, 2, ((double[]){0, 0}), 0);
    ag_set_flat(g, 0, 10);
    /* the same buffer again, not zeroed */
    ck_assert_ptr_eq(ag_grad_buffer(w), g);
    ck_assert(ag_get_flat(g, 0) == 10.0);
    /* backward of y = sum(3w) adds 3 into what is there */
    ck_assert(ag_backward(ag_sum(A, ag_mul_scalar(A, w, 3), 0, NULL, false), NULL));
    ck_assert_ptr_eq(w->grad, g);
    ck_values(g, 2, ((double[]){13, 3}), 0);
}
END_TEST

/* p.grad = g: the values are copied in (converted to p's dtype). */
START_TEST(set_grad_copies_values) {
    ag_tensor *p = ag_zeros(A, AG_F32, AG_SHAPE(2, 2));
    ag_set_requires_grad(p, true);
    ag_tensor *g = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), (double[]){0.5, -1, 2, 0.25});
    ck_assert(ag_set_grad(p, g));
    ck_assert_int_eq(p->grad->dtype, AG_F32);
    ck_assert_ptr_ne(p->grad, g);
    ck_values(p->grad, 4, ((double[]){0.5, -1, 2, 0.25}), 0);
    /* set again: overwritten, in the same buffer */
    ag_tensor *buf = p->grad;
    ck_assert(ag_set_grad(p, ag_ones(A, AG_BF16, AG_SHAPE(2, 2))));
    ck_assert_ptr_eq(p->grad, buf);
    ck_values(p->grad, 4, ((double[]){1, 1, 1, 1}), 0);
    /* an optimizer step uses it: SGD lr 0.5 -> p = -0.5 */
    ag_sgd_opts so = ag_sgd_defaults();
    so.lr = 0.5;
    ag_optim *o = ag_sgd_new(A, ag_optim_groups_one(&(ag_optim_group){&p, 1, NAN, NAN}), &so);
    ck_assert(ag_optim_step(o));
    ck_values(p, 4, ((double[]){-0.5, -0.5, -0.5, -0.5}), 0);
}
END_TEST

START_TEST(grad_bad_input) {
    ag_tensor *p = ag_zeros(A, AG_F32, AG_SHAPE(3));
    expect_errors();
    ck_assert_ptr_null(ag_grad_buffer(p));
    check_error("grad_buffer", "does not require a gradient", "ag_set_requires_grad");
    ag_set_requires_grad(p, true);
    expect_errors();
    ck_assert(!ag_set_grad(p, ag_zeros(A, AG_F32, AG_SHAPE(2))));
    check_error("set_grad", "gradient f32 [2] for tensor f32 [3]", "tensor's shape");
    ck_assert_ptr_null(p->grad);
    expect_errors();
    ck_assert(!ag_set_grad(p, ag_zeros(A, AG_I32, AG_SHAPE(3))));
    check_error("set_grad", "i32", NULL);
    ag_tensor *ids = ag_zeros(A, AG_I32, AG_SHAPE(3));
    expect_errors();
    ck_assert_ptr_null(ag_grad_buffer(ids));
    check_error("grad_buffer", "is i32", "float");
    /* NULL: an earlier failure, no report */
    expect_errors();
    ck_assert_ptr_null(ag_grad_buffer(NULL));
    ck_assert(!ag_set_grad(p, NULL));
    ck_assert(!ag_set_grad(NULL, p));
    ck_assert_int_eq(ag_error_count(), 0);
}
END_TEST

TCase *engine_grad_tcase(void) {
    TCase *tc = tcase_create("grad");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, no_grad_block_restores_the_mode);
    tcase_add_test(tc, grad_before_the_first_backward);
    tcase_add_test(tc, set_grad_copies_values);
    tcase_add_test(tc, grad_bad_input);
    return tc;
}
