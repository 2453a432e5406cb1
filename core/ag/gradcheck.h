/* ag/gradcheck.h — checking gradients by finite differences.
 *
 * Point ag_gradcheck at any function of several tensors. It follows
 * torch.autograd.gradcheck: central differences in f64 with step eps (1e-6);
 * an element passes iff |analytic - numeric| <= atol + rtol * |numeric|
 * (atol 1e-5, rtol 1e-3); backward run twice must give identical results.
 * Every input that requires a gradient is checked against the full Jacobian
 * (or, with fast set, against one random projection of the output).
 *
 * Point ag_gradcheck_params at a model's loss and its parameters: backward
 * once, then the same comparison at a sample of coordinates of each
 * parameter, reported per parameter by name (for a module,
 * ag_gradcheck_module in ag/check.h names them by their dotted paths).
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
 * non-f64 input without allow_non_f64, a negative or non-finite eps, atol or
 * rtol) are reported and return false. */
bool ag_gradcheck_(ag_gradcheck_fn f, int n, ag_tensor *const *inputs, void *userdata,
                   const ag_gradcheck_opts *opts, ag_gradcheck_result *result);
#define ag_gradcheck(...) AG_AT_BOOL(ag_gradcheck_, __VA_ARGS__)

/* torch.autograd.gradgradcheck: checks the second derivatives of f by
 * finite differences of its gradient. With v a random tensor shaped like
 * f's output (drawn from opts->seed), it runs ag_gradcheck on
 *     F(inputs, v) = the gradient of <f(inputs), v> with respect to every
 *                    input that requires one, flattened and concatenated,
 * computed by ag_grad with create_graph: F's backward is f's double
 * backward. v is checked too, as the last input (named "grad_out"), so
 * result describes n + 1 inputs. The rules, options and reports are
 * ag_gradcheck's; n is at most 15. Also reported: f's output not requiring
 * a gradient, and an op on the way without a vjp. */
bool ag_gradgradcheck_(ag_gradcheck_fn f, int n, ag_tensor *const *inputs, void *userdata,
                       const ag_gradcheck_opts *opts, ag_gradcheck_result *result);
#define ag_gradgradcheck(...) AG_AT_BOOL(ag_gradgradcheck_, __VA_ARGS__)

/* Prints one line per checked input: worst index, analytic, numeric, errors. */
void ag_gradcheck_print(FILE *f, const ag_gradcheck_result *r, ag_tensor *const *inputs);

/* ---- a loss and its parameters, at sampled coordinates ------------------ */

/* The loss of a model: builds a one-element tensor in A from the parameters
 * (reached through userdata) and returns it (NULL on failure). It is called
 * once while recording, for backward, then with recording off twice per
 * checked coordinate (four times with fourth_order, more where one fails),
 * in an arena reset before each call. It must give the same value for the same parameter values: no
 * dropout, no sampling. */
typedef ag_tensor *(*ag_loss_fn)(ag_arena *A, void *userdata);

/* Zero fields take the defaults. */
typedef struct ag_gradcheck_params_opts {
    int samples;       /* distinct coordinates per parameter, drawn uniformly;
                          0, or at least the parameter's size: all of them */
    uint64_t seed;     /* which coordinates: the same seed draws the same ones */
    double eps;        /* finite-difference step h (1e-6) */
    double atol;       /* 1e-5 */
    double rtol;       /* 1e-3 */
    bool fourth_order; /* n = (8 (L(w+h) - L(w-h)) - (L(w+2h) - L(w-2h))) / (12 h),
                          error O(h^4), instead of (L(w+h) - L(w-h)) / (2 h), error
                          O(h^2): a larger h (1e-3) then keeps rounding out of n.
                          A coordinate that fails is estimated again with h/4,
                          h/16, h/64, h/256 until two successive estimates agree
                          (by the rule), and the settled one is compared: where
                          the loss turns within h (RMSNorm over one element),
                          a correct gradient passes; a wrong one still fails */
} ag_gradcheck_params_opts;

/* One parameter's outcome. Its worst coordinate is the one closest to
 * failing: the largest |a - n| / (atol + rtol |n|). */
typedef struct ag_gradcheck_param_report {
    char name[128];          /* as given (cut to 127 bytes), or "param <i>" */
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t checked;         /* coordinates compared */
    bool pass;
    int64_t index;           /* the worst coordinate, row-major (-1: none compared) */
    int64_t coord[AG_MAX_DIMS]; /* the same as one index per dim */
    double analytic, numeric;
    double abs_err;          /* |a - n| */
    double rel_err;          /* |a - n| / max(|a|, |n|); 0 where both are <= atol */
    double err_over_tol;     /* |a - n| / (atol + rtol |n|): above 1 fails */
    double max_rel_err;      /* the largest rel_err of any coordinate compared */
} ag_gradcheck_param_report;

typedef struct ag_gradcheck_params_result {
    bool pass;
    int nparams;
    ag_gradcheck_param_report *param; /* nparams entries (NULL after bad arguments);
                                         owned: ag_gradcheck_params_free */
    int64_t n_checked;       /* coordinates compared, every parameter together */
    double loss;             /* the loss at the parameters' own values */
    double max_rel_err;      /* over every coordinate compared */
    double max_err_over_tol; /* the same for |a - n| / (atol + rtol |n|) */
    char message[512];       /* "" on pass; otherwise the first failing parameter
                                and its worst coordinate, or what went wrong */
} ag_gradcheck_params_result;

/* Checks d loss / d params[i] for i in 0..n-1, named names[i] in the report
 * (names may be NULL, or hold NULLs: then the tensor's name, or "param <i>").
 * The parameters are distinct f64 leaves that require a gradient; backward
 * accumulates into buffers the check lends them, so their own .grad (NULL or
 * not) and its values are as before the call, and so is every value: each
 * perturbed coordinate gets its exact original value back. opts may be NULL.
 * result may be NULL; otherwise free it with ag_gradcheck_params_free (also
 * after a failure). Returns result->pass. Bad arguments (NULL loss or list,
 * n < 1, a NULL, repeated, non-leaf, non-f64 parameter or one without
 * requires_grad, samples < 0, a negative or non-finite eps, atol or rtol)
 * and a loss with more than one element are reported and return false. */
bool ag_gradcheck_params_(ag_loss_fn loss, void *userdata, int n, ag_tensor *const *params,
                          const char *const *names, const ag_gradcheck_params_opts *opts,
                          ag_gradcheck_params_result *result);
#define ag_gradcheck_params(...) AG_AT_BOOL(ag_gradcheck_params_, __VA_ARGS__)

/* Frees what the result owns (the reports) and empties it; NULL: nothing. */
void ag_gradcheck_params_free(ag_gradcheck_params_result *r);

/* Prints one line per parameter, names aligned: shape, coordinates compared,
 * the worst coordinate with its analytic and numeric values and relative
 * error, and ok or FAIL. f or r NULL: nothing. */
void ag_gradcheck_params_print(FILE *f, const ag_gradcheck_params_result *r);

#ifdef __cplusplus
}
#endif
#endif
