/* tests/optim/optim_test.h — shared by the optim suite's files. Each file
 * tests/optim/<part>.c defines  TCase *optim_<part>_tcase(void);  main.c
 * lists them. The ops suite's helpers (ck_close, ck_values, expect_errors,
 * check_error, ...) are available too. Expected values come from the
 * formulas, evaluated here with libm, never from the library's output. */
#ifndef AG_OPTIM_TEST_H
#define AG_OPTIM_TEST_H

#include <ag/ag.h>

#include "../ops/ops_test.h"

/* A leaf parameter [n] of dtype dt holding values, requiring a gradient. */
static inline ag_tensor *param_of(ag_arena *A, ag_dtype dt, int64_t n, const double *values) {
    ag_tensor *p = ag_from_f64(A, dt, AG_SHAPE(n), values);
    ag_set_requires_grad(p, true);
    return p;
}

/* Sets p's gradient to values (rounded to p's dtype), allocating it in p's
 * arena the first time, as backward would. */
static inline void set_grad(ag_tensor *p, const double *values) {
    if (!p->grad) p->grad = ag_zeros(p->arena, p->dtype, p->ndim, p->shape);
    for (int64_t i = 0; i < p->numel; i++) ag_set_flat(p->grad, i, values[i]);
}

/* Element i of st's state buffer name, which must exist. */
static inline double state_at(const ag_optim_state *st, const char *name, int64_t i) {
    const ag_tensor *b = ag_optim_state_buffer(st, name);
    ck_assert_msg(b != NULL, "no state buffer %s", name);
    return ag_get_flat(b, i);
}

/* |got - want| <= rel * |want| (exact equality always passes). */
#define ck_rel(got, want, rel) ck_close(got, want, (rel) * fabs((double)(want)))

TCase *optim_adam_tcase(void);     /* Adam, AdamW: hand values, amsgrad, maximize, dtypes */
TCase *optim_sgd_tcase(void);      /* SGD: momentum, dampening, nesterov, weight decay */
TCase *optim_clip_tcase(void);     /* clip_grad_norm, clip_grad_value */
TCase *optim_schedule_tcase(void); /* schedules and applying them */
TCase *optim_groups_tcase(void);   /* parameter groups, Trainer grouping, state, errors */

#endif
