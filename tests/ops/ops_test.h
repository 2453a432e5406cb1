/* tests/ops/ops_test.h — shared by the ops suite's files. Each file
 * tests/ops/<family>.c defines  TCase *ops_<family>_tcase(void);  main.c
 * lists them. Expected values come from hand computation or the formulas. */
#ifndef AG_OPS_TEST_H
#define AG_OPS_TEST_H

#include <ag/ag.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Asserts |got - want| <= tol, naming both values. */
#define ck_close(got, want, tol)                                                        \
    do {                                                                                \
        double g_ = (got), w_ = (want);                                                 \
        ck_assert_msg(g_ == w_ || fabs(g_ - w_) <= (tol) || (isnan(g_) && isnan(w_)),   \
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
            ck_assert_msg(g_ == w_ || fabs(g_ - w_) <= (tol) || (isnan(g_) && isnan(w_)), \
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

/* Bad-input tests: expect_errors() installs a handler that returns (so the
 * bad call returns NULL) and forgets earlier errors; check_error(op, s1, s2)
 * asserts the last error starts "ag: <op>:" and contains s1 and s2 (either
 * may be NULL), then puts the default handler back. */
static inline void ops_test_quiet(const char *message, void *userdata) {
    (void)message;
    (void)userdata;
}

static inline void expect_errors(void) {
    ag_clear_error();
    ag_set_error_handler(ops_test_quiet, NULL);
}

static inline void check_error(const char *op, const char *s1, const char *s2) {
    const char *e = ag_last_error();
    char want[64];
    snprintf(want, sizeof want, "ag: %s:", op);
    ck_assert_msg(strncmp(e, want, strlen(want)) == 0, "error \"%s\" lacks \"%s\"", e, want);
    if (s1) ck_assert_msg(strstr(e, s1), "error \"%s\" lacks \"%s\"", e, s1);
    if (s2) ck_assert_msg(strstr(e, s2), "error \"%s\" lacks \"%s\"", e, s2);
    ag_set_error_handler(NULL, NULL);
}

/* A new arena whose first `bytes` hold NaN (all bits set) and are free
 * again: the tensors made next land there, so a gradient buffer that a
 * backward adds to instead of storing into comes out NaN. */
static inline ag_arena *nan_filled_arena(size_t bytes) {
    ag_arena *A = ag_arena_new(0);
    memset(ag_arena_alloc(A, bytes), 0xff, bytes);
    ag_arena_reset(A);
    return A;
}

/* x[i] = i over a contiguous shape. */
static inline ag_tensor *iota(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape) {
    ag_tensor *t = ag_empty(A, dt, ndim, shape);
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat(t, i, (double)i);
    return t;
}

TCase *ops_binary_tcase(void);
TCase *ops_unary_tcase(void);
TCase *ops_reduce_tcase(void);
TCase *ops_matmul_tcase(void);
TCase *ops_shape_tcase(void);
TCase *ops_index_tcase(void);
TCase *ops_softmax_loss_tcase(void);
TCase *ops_loss_tcase(void);
TCase *ops_cast_tcase(void);
TCase *ops_nonfinite_tcase(void);
TCase *ops_reduce_second_tcase(void);
TCase *ops_second_order_tcase(void);
TCase *ops_matmul_loss_second_tcase(void);
TCase *ops_vmath_tcase(void);
TCase *ops_attention_tcase(void);

#endif
