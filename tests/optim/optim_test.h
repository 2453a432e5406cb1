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

/* ---- checks.c ---- */

/* One element's update evaluated in float: w and its state s (zero at
 * first) for gradient g at step t. */
typedef void (*ref_f32_step)(float *w, float s[2], float g, int t);

/* Eight steps of o over p, a bf16 [1.5, -2.0], with gradient (0.5, -0.25):
 * after each, the f32 master equals ref's float value (2e-7 relative), the
 * parameter is the master rounded, buffer is an f32 state buffer, and the
 * parameter is 1.5 until the master falls below 1.5 - 2^-8, then 1.5 -
 * 2^-7, which it must reach by the last step. */
void check_bf16_steps(ag_optim *o, ag_tensor *p, ref_f32_step ref, const char *buffer);

/* A double option at offset (offsetof) set to value, and what the report
 * must contain. */
typedef struct {
    size_t offset;
    double value;
    const char *want;
} bad_option;

/* For each of bad[0..n): the defaults (size bytes) with that option changed
 * must be refused by make (an optimizer over a fresh parameter) with one
 * report "ag: <op>: ...<want>... >= 0". */
void check_bad_options(const char *op, ag_optim *(*make)(ag_arena *, ag_tensor *, const void *),
                       const void *defaults, size_t size, const bad_option *bad, int n);

TCase *optim_adam_tcase(void);     /* Adam, AdamW: hand values, amsgrad, maximize, dtypes */
TCase *optim_sgd_tcase(void);      /* SGD: momentum, dampening, nesterov, weight decay */
TCase *optim_clip_tcase(void);     /* clip_grad_norm, clip_grad_value */
TCase *optim_schedule_tcase(void); /* schedules and applying them */
TCase *optim_groups_tcase(void);   /* parameter groups, Trainer grouping, state, errors */
TCase *optim_rmsprop_tcase(void);  /* RMSprop: momentum, centered, weight decay, dtypes */
TCase *optim_adagrad_tcase(void);  /* Adagrad: lr decay, starting sum, weight decay, dtypes */
TCase *optim_types_tcase(void);    /* an optimizer type written outside the library */

#endif
