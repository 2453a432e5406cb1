/* ag/gradcheck.h — checking gradients by finite differences.
 *
 * Point ag_gradcheck at any function of several tensors. It follows
 * torch.autograd.gradcheck: central differences in f64 with step eps (1e-6);
 * an element passes iff |analytic - numeric| <= atol + rtol * |numeric|
 * (atol 1e-5, rtol 1e-3); backward run twice must give identical results.
 * Every input that requires a gradient is checked against the full Jacobian
 * (or, with fast set, against one random projection of the output).
 */
#ifndef AG_GRADCHECK_H
#define AG_GRADCHECK_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AG_GRADCHECK_MAX_INPUTS 16

/* The function under test: builds its output in A from inputs[0..n-1] using
 * ag ops. It is called many times; it must be deterministic. */
typedef ag_tensor *(*ag_gradcheck_fn)(ag_arena *A, ag_tensor *const *inputs, int n,
                                      void *userdata);

/* Zero fields take the defaults. */
typedef struct ag_gradcheck_opts {
    double eps;        /* finite-difference step (1e-6) */
    double atol;       /* 1e-5 */
    double rtol;       /* 1e-3 */
    bool fast;         /* compare one random projection v.J instead of all of J */
    uint64_t seed;     /* for the projection (fast mode) */
    bool allow_non_f64;/* check f32/bf16 inputs too (reported unless set) */
} ag_gradcheck_opts;

/* The worst element of one input: the one closest to failing, with the
 * largest |a - n| / (atol + rtol |n|) (above 1 fails). */
typedef struct ag_gradcheck_worst {
    int64_t index;     /* row-major position in the input (-1: no elements) */
    int64_t out_index; /* output element (Jacobian row); -1 in fast mode */
    double analytic, numeric, abs_err, rel_err;
} ag_gradcheck_worst;

typedef struct ag_gradcheck_result {
    bool pass;
    int n_inputs;                     /* inputs given */
    bool checked[AG_GRADCHECK_MAX_INPUTS]; /* requires_grad inputs */
    bool input_pass[AG_GRADCHECK_MAX_INPUTS];
    ag_gradcheck_worst worst[AG_GRADCHECK_MAX_INPUTS];
    double max_abs_err;               /* over every Jacobian entry compared */
    double max_rel_err;               /* |a-n|/max(|a|,|n|) over entries above atol */
    int64_t n_elements;               /* Jacobian entries compared */
    bool reentrant;                   /* backward twice gave identical results */
    char message[256];                /* "" on pass; otherwise what failed */
} ag_gradcheck_result;

/* Runs the check. inputs are leaves the caller made (f64, in any arena); the
 * ones that require a gradient are checked, and their values are restored
 * afterwards. opts may be NULL. result may be NULL. Returns result->pass.
 * Bad arguments (n outside 1..16, NULL, no input requiring a gradient, a
 * non-f64 input without allow_non_f64) are reported and return false. */
bool ag_gradcheck_(ag_gradcheck_fn f, int n, ag_tensor *const *inputs, void *userdata,
                   const ag_gradcheck_opts *opts, ag_gradcheck_result *result);
#define ag_gradcheck(...) AG_AT(ag_gradcheck_, __VA_ARGS__)

/* Prints one line per checked input: worst index, analytic, numeric, errors. */
void ag_gradcheck_print(FILE *f, const ag_gradcheck_result *r, ag_tensor *const *inputs);

#ifdef __cplusplus
}
#endif
#endif
