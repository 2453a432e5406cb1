/* ag/hvp.h — Hessian-vector products and the top Hessian eigenvalue, by
 * double backward.
 *
 * For a loss L(w) of parameters w = (w_0, ..., w_{n-1}) and a direction
 * v = (v_0, ..., v_{n-1}), one tensor per parameter,
 *
 *     H v = d/dw <dL/dw, v>
 *
 * costs two backward passes and never forms H: g = ag_grad(L, w) with
 * create_graph (g is a recorded function of w), then the gradient of
 * sum_i <g_i, v_i> with respect to w, without recording (ag_grad seeded
 * with v, the same product without building it). Every op of the loss needs
 * a vjp (ag/tensor.h; ag-gradcheck --second-order lists those that pass).
 *
 * ag_hessian_top_eig runs power iteration on these products: the curvature
 * of the loss along its sharpest direction, the quantity sharpness studies
 * ("edge of stability") follow during training.
 *
 * The loss is an ag_loss_fn (ag/gradcheck.h): it builds a one-element
 * tensor in the arena it is given from parameters it reaches through
 * userdata, is called with recording on, and must be deterministic (no
 * dropout, the same batch). The graphs live in arenas of these functions'
 * own, freed before they return; only the results are kept.
 */
#ifndef AG_HVP_H
#define AG_HVP_H

#include "gradcheck.h"

#ifdef __cplusplus
extern "C" {
#endif

/* H v at the parameters' current values: hv[i] is a new tensor in A shaped
 * and typed as params[i] (plain values, no graph), for i in 0..n-1. params
 * are distinct tensors that require a gradient (float); v[i] has params[i]'s
 * shape and dtype. No parameter's value or .grad changes. A parameter the
 * loss does not reach, or reaches only linearly, gets zeros. Returns false
 * after a report, with hv[] all NULL: NULL or empty arguments, a parameter
 * that does not require a gradient or is listed twice, a v[i] of another
 * shape or dtype, a loss that fails, has more than one element or reaches
 * no parameter, and an op on the way without a vjp (named). A NULL entry in
 * params or v is an earlier failure: false without a report. */
bool ag_hvp_(ag_arena *A, ag_loss_fn loss, void *userdata, int n, ag_tensor *const *params,
             ag_tensor *const *v, ag_tensor **hv);
#define ag_hvp(...) AG_AT_BOOL(ag_hvp_, __VA_ARGS__)

/* Zero fields take the defaults. */
typedef struct ag_hessian_eig_opts {
    int iters;     /* at most this many products H v (20) */
    double tol;    /* stop once |lambda_k - lambda_{k-1}| <= tol |lambda_k| (1e-3) */
    uint64_t seed; /* the starting direction: normal, from this seed (0) */
} ag_hessian_eig_opts;

typedef struct ag_hessian_eig_result {
    double eigenvalue; /* lambda: <v, H v> for the last unit direction v; the
                          eigenvalue of largest magnitude, with its sign */
    double loss;       /* the loss at the parameters' values */
    int iters;         /* products computed */
    bool converged;    /* the tolerance was met (or H v was 0: lambda 0) */
} ag_hessian_eig_result;

/* Power iteration: v_0 random with |v_0| = 1 (one norm over every
 * parameter together), then v_{k+1} = H v_k / |H v_k|, and lambda_k =
 * <v_k, H v_k>, until two successive lambdas agree within tol or iters
 * products are done. It converges to the eigenvalue of largest magnitude at
 * the rate |lambda_2 / lambda_1| per product; when two eigenvalues of equal
 * magnitude and opposite signs lead, lambda wanders and converged stays
 * false. opts may be NULL. result must not be NULL. Returns true when every
 * product was computed (converged or not), false after a report: what
 * ag_hvp reports, iters < 0, a negative or non-finite tol, a NULL result. */
bool ag_hessian_top_eig_(ag_loss_fn loss, void *userdata, int n, ag_tensor *const *params,
                         const ag_hessian_eig_opts *opts, ag_hessian_eig_result *result);
#define ag_hessian_top_eig(...) AG_AT_BOOL(ag_hessian_top_eig_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
