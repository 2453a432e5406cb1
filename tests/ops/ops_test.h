/* tests/ops/ops_test.h — shared by the ops suite's files. Each file
 * tests/ops/<family>.c defines  TCase *ops_<family>_tcase(void);  main.c
 * lists them. Expected values come from hand computation or the formulas. */
#ifndef AG_OPS_TEST_H
#define AG_OPS_TEST_H

#include <ag/ag.h>
#include <check.h>
#include <math.h>

/* Asserts |got - want| <= tol, naming both values. */
#define ck_close(got, want, tol)                                                        \
    do {                                                                                \
        double g_ = (got), w_ = (want);                                                 \
        ck_assert_msg(fabs(g_ - w_) <= (tol) || (isnan(g_) && isnan(w_)),               \
                      "%s = %.17g, expected %.17g (tol %g)", #got, g_, w_, (double)(tol)); \
    } while (0)

/* Asserts every element of t equals want[i] within tol, and t's numel is n. */
#define ck_values(t, n, want, tol)                                                      \
    do {                                                                                \
        const ag_tensor *t_ = (t);                                                      \
        ck_assert_ptr_nonnull(t_);                                                      \
        ck_assert_int_eq(t_->numel, (n));                                               \
        for (int64_t i_ = 0; i_ < (int64_t)(n); i_++) {                                 \
            double g_ = ag_get_flat(t_, i_), w_ = (want)[i_];                           \
            ck_assert_msg(fabs(g_ - w_) <= (tol) || (isnan(g_) && isnan(w_)),           \
                          "%s[%lld] = %.17g, expected %.17g", #t, (long long)i_, g_, w_); \
        }                                                                               \
    } while (0)

/* Asserts t's shape equals AG_SHAPE(...)-style (ndim, shape). */
#define ck_shape(t, nd, sh)                                                             \
    do {                                                                                \
        const ag_tensor *t_ = (t);                                                      \
        const int64_t *s_ = (sh);                                                       \
        ck_assert_ptr_nonnull(t_);                                                      \
        ck_assert_int_eq(t_->ndim, (nd));                                               \
        for (int d_ = 0; d_ < (nd); d_++) ck_assert_int_eq(t_->shape[d_], s_[d_]);       \
    } while (0)

TCase *ops_binary_tcase(void);
TCase *ops_unary_tcase(void);
TCase *ops_reduce_tcase(void);
TCase *ops_matmul_tcase(void);
TCase *ops_shape_tcase(void);
TCase *ops_index_tcase(void);
TCase *ops_softmax_loss_tcase(void);
TCase *ops_cast_tcase(void);

#endif
