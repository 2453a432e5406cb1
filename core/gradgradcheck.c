/* core/gradgradcheck.c — second derivatives by finite differences, as
 * torch.autograd.gradgradcheck checks them.
 *
 * For f(inputs) with output y, draw a random v shaped like y and check, by
 * ag_gradcheck, the function
 *
 *     F(inputs, v) = d<y, v>/d inputs     (every input that requires a gradient,
 *                                          flattened and concatenated)
 *
 * computed by ag_grad with create_graph. Its Jacobian with respect to the
 * inputs is the Hessian of <y, v> (the double backward under test); with
 * respect to v it is the transposed Jacobian of f, so a backward that is
 * wrong as a function of its output gradient shows too.
 */
#include <string.h>

#include "internal.h"

typedef struct {
    ag_gradcheck_fn f;
    void *userdata;
    int n; /* f's inputs; F takes these and v */
} second;

/* F: recorded when ag_gradcheck records (its backward pass, where the
 * double backward runs), plain values when it does not (its finite
 * differences: f's first-order gradient at shifted inputs). */
static ag_tensor *gradient_of(ag_arena *A, ag_tensor *const *in, int n1, void *userdata) {
    const second *s = userdata;
    (void)n1;
    const bool graph = ag_set_grad_enabled(true);
    ag_tensor *y = s->f(A, in, s->n, s->userdata);
    ag_tensor *const v = in[s->n];
    ag_tensor *wrt[AG_GRADCHECK_MAX_INPUTS], *g[AG_GRADCHECK_MAX_INPUTS], *out = NULL;
    int m = 0;
    for (int i = 0; i < s->n; i++)
        if (in[i]->requires_grad) wrt[m++] = in[i];
    if (y && !ag_same_shape(y, v))
        ag__fail("gradgradcheck", "the function gave %s after %s: expected the same shape "
                 "on every call", ag__shp(y), ag__shp(v));
    else if (y && ag_grad_(1, &y, &v, m, wrt, g, graph)) {
        ag_set_grad_enabled(graph);
        for (int i = 0; i < m; i++) g[i] = ag_reshape_(A, g[i], 1, (int64_t[]){g[i]->numel});
        out = m == 1 ? g[0] : ag_concat_(A, m, g, 0);
    }
    ag_set_grad_enabled(graph);
    return out;
}

bool ag_gradgradcheck_(ag_gradcheck_fn f, int n, ag_tensor *const *inputs, void *userdata,
                       const ag_gradcheck_opts *opts, ag_gradcheck_result *result) {
    if (!f || !inputs || n < 1 || n >= AG_GRADCHECK_MAX_INPUTS) {
        ag__fail("gradgradcheck", "%s, %d inputs: expected a function and 1..%d inputs (v, "
                 "the output's random gradient, takes the last slot)", f ? "function" : "NULL "
                 "function", n, AG_GRADCHECK_MAX_INPUTS - 1);
        return false;
    }
    for (int i = 0; i < n; i++)
        if (!inputs[i]) return false; /* an earlier failure, already reported */
    ag_arena *A = ag_arena_new_(0);
    if (!A) return false;
    /* y's shape, from one call */
    ag_tensor *y = f(A, inputs, n, userdata);
    bool ok = y != NULL;
    if (ok && !y->requires_grad) {
        ag__fail("gradgradcheck", "the function's output %s does not require a gradient: "
                 "expected an input that requires one", ag__shp(y));
        ok = false;
    }
    ag_tensor *in[AG_GRADCHECK_MAX_INPUTS];
    memcpy(in, inputs, (size_t)n * sizeof *in);
    if (ok) {
        ag_rng r;
        ag_rng_seed(&r, (opts ? opts->seed : 0) ^ 0x9e3779b97f4a7c15u);
        in[n] = ag_randn_(A, &r, AG_F64, y->ndim, y->shape, 0, 1);
        ok = in[n] != NULL;
        if (ok) in[n]->name = "grad_out";
        if (ok) ag_set_requires_grad_(in[n], true);
    }
    second s = {f, userdata, n};
    ok = ok && ag_gradcheck_(gradient_of, n + 1, in, &s, opts, result);
    ag_arena_free(A);
    return ok;
}
