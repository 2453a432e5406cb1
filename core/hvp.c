/* core/hvp.c — Hessian-vector products by double backward, and power
 * iteration on them for the top Hessian eigenvalue.
 *
 * One product, for a loss L of parameters w and a direction v:
 *
 *     g  = ag_grad(L, w, create_graph)        a recorded function of w
 *     Hv = ag_grad(g, w, seeds v)             d/dw sum_i <g_i, v_i>
 *
 * The second pass seeds each g_i with v_i instead of building the dot
 * product and its sum: the same gradient, two ops fewer per parameter. A g_i
 * that does not require a gradient (the loss is at most linear in w_i, or
 * does not reach it) adds nothing and is left out of the seeds.
 *
 * Memory: the loss's graph and its recorded gradient live in an arena of
 * the call's own (reset before each product of the power iteration); the
 * results are copied out before it is freed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ag/custom_op.h"
#include "ag/hvp.h"
#include "internal.h"

/* A loss and its parameters, and the public name reports carry. */
typedef struct {
    const char *op;
    ag_loss_fn loss;
    void *ud;
    int n;
    ag_tensor *const *p;
} problem;

/* ---- argument checks -------------------------------------------------------- */

static bool params_ok(const problem *pb) {
    if (!pb->loss || !pb->p || pb->n < 1) {
        ag__fail(pb->op, "%s, %d parameters%s: expected a loss function and at least one "
                 "parameter", pb->loss ? "a loss function" : "NULL loss function", pb->n,
                 pb->p ? "" : " (NULL list)");
        return false;
    }
    for (int i = 0; i < pb->n; i++) {
        const ag_tensor *t = pb->p[i];
        if (!t) return false; /* an earlier failure, already reported */
        if (!ag__check_live(pb->op, t)) return false;
        if (!t->requires_grad) {
            ag__fail(pb->op, "parameter %d (%s %s) does not require a gradient: expected the "
                     "tensors the loss is a function of, with requires_grad set", i,
                     ag_dtype_name(t->dtype), ag__shp(t));
            return false;
        }
        for (int k = 0; k < i; k++)
            if (pb->p[k] == t) {
                ag__fail(pb->op, "parameters %d and %d are the same tensor %s: list it once", k,
                         i, ag__shp(t));
                return false;
            }
    }
    return true;
}

static bool direction_ok(const problem *pb, ag_tensor *const *v) {
    if (!v) {
        ag__fail(pb->op, "the direction v is NULL: expected %d tensors, one per parameter",
                 pb->n);
        return false;
    }
    for (int i = 0; i < pb->n; i++) {
        if (!v[i]) return false; /* an earlier failure */
        if (!ag__check_live(pb->op, v[i])) return false;
        if (!ag_same_shape(v[i], pb->p[i]) || v[i]->dtype != pb->p[i]->dtype) {
            ag__fail(pb->op, "v[%d] is %s %s: expected parameter %d's shape and dtype, %s %s", i,
                     ag_dtype_name(v[i]->dtype), ag__shp(v[i]), i,
                     ag_dtype_name(pb->p[i]->dtype), ag__shp(pb->p[i]));
            return false;
        }
    }
    return true;
}

/* ---- one product ------------------------------------------------------------ */

/* The loss, built in G with recording on; NULL after a report. */
static ag_tensor *loss_in(const problem *pb, ag_arena *G) {
    const int errors = ag_error_count();
    const bool was = ag_set_grad_enabled(true);
    ag_tensor *l = pb->loss(G, pb->ud);
    ag_set_grad_enabled(was);
    if (!l) {
        if (ag_error_count() == errors)
            ag__fail(pb->op, "the loss function returned NULL without a report");
        return NULL;
    }
    if (!ag__check_live(pb->op, l)) return NULL;
    if (l->numel != 1 || !ag_dtype_is_float(l->dtype)) {
        ag__fail(pb->op, "the loss is %s %s: expected one float element",
                 ag_dtype_name(l->dtype), ag__shp(l));
        return NULL;
    }
    if (!l->requires_grad) {
        ag__fail(pb->op, "the loss does not require a gradient: it reaches none of the %d "
                 "parameters (or was computed with recording off)", pb->n);
        return NULL;
    }
    return l;
}

/* H v into hv[0..n-1] (plain tensors in G) and the loss's value into
 * *value; false after a report. */
static bool product(const problem *pb, ag_arena *G, ag_tensor *const *v, ag_tensor **hv,
                    double *value) {
    ag_tensor *l = loss_in(pb, G);
    if (!l) return false;
    *value = ag_op_load(l, 0);
    const size_t bytes = (size_t)pb->n * sizeof(ag_tensor *);
    ag_tensor **g = malloc(3 * bytes);
    if (!g) {
        ag__fail(pb->op, "out of memory for %d parameters", pb->n);
        return false;
    }
    ag_tensor **outs = g + pb->n, **seeds = g + 2 * pb->n;
    bool ok = ag_grad_(1, &l, NULL, pb->n, pb->p, g, true);
    int m = 0;
    for (int i = 0; ok && i < pb->n; i++)
        if (g[i]->requires_grad) {
            outs[m] = g[i];
            seeds[m++] = v[i];
        }
    if (ok && m > 0) ok = ag_grad_(m, outs, seeds, pb->n, pb->p, hv, false);
    for (int i = 0; ok && m == 0 && i < pb->n; i++) /* H is 0 */
        ok = (hv[i] = ag_zeros_(G, pb->p[i]->dtype, pb->p[i]->ndim, pb->p[i]->shape)) != NULL;
    free(g);
    return ok;
}

bool ag_hvp_(ag_arena *A, ag_loss_fn loss, void *userdata, int n, ag_tensor *const *params,
             ag_tensor *const *v, ag_tensor **hv) {
    const problem pb = {"hvp", loss, userdata, n, params};
    if (!hv) {
        ag__fail("hvp", "hv is NULL: expected room for %d tensors", n);
        return false;
    }
    for (int i = 0; i < n; i++) hv[i] = NULL;
    if (!ag__check_arena("hvp", A) || !params_ok(&pb) || !direction_ok(&pb, v)) return false;
    ag_arena *G = ag_arena_new_(0);
    double value;
    bool ok = G && product(&pb, G, v, hv, &value);
    for (int i = 0; ok && i < n; i++) ok = (hv[i] = ag_copy_(A, hv[i])) != NULL;
    if (!ok)
        for (int i = 0; i < n; i++) hv[i] = NULL;
    ag_arena_free(G);
    return ok;
}

/* ---- power iteration -------------------------------------------------------- */

/* sum_i <a_i, b_i> over n tensors of matching sizes, in double. */
static double dot(int n, ag_tensor *const *a, ag_tensor *const *b) {
    double s = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < a[i]->numel; j++) s += ag_op_load(a[i], j) * ag_op_load(b[i], j);
    return s;
}

/* dst_i = src_i * k, elementwise, for n tensors of matching sizes. */
static void scale_into(int n, ag_tensor *const *dst, ag_tensor *const *src, double k) {
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < dst[i]->numel; j++)
            ag_op_store(dst[i], j, ag_op_load(src[i], j) * k);
}

static bool eig_opts_ok(const ag_hessian_eig_opts *o, const ag_hessian_eig_result *r) {
    if (!r) {
        ag__fail("hessian_top_eig", "result is NULL: expected somewhere to put the eigenvalue");
        return false;
    }
    if (o && (o->iters < 0 || !(o->tol >= 0) || !isfinite(o->tol))) {
        ag__fail("hessian_top_eig", "iters %d, tol %g: expected iters >= 0 and a finite tol >= "
                 "0 (0: the defaults, 20 and 1e-3)", o->iters, o->tol);
        return false;
    }
    return true;
}

/* The iteration proper, with the direction v (unit, in a kept arena) and
 * the product's arena G; fills r. */
static bool iterate(const problem *pb, ag_arena *G, ag_tensor **v, ag_tensor **w, int iters,
                    double tol, ag_hessian_eig_result *r) {
    double prev = NAN;
    for (int k = 1; k <= iters; k++) {
        ag_arena_reset(G);
        if (!product(pb, G, v, w, &r->loss)) return false;
        const double lambda = dot(pb->n, v, w), norm = sqrt(dot(pb->n, w, w));
        r->iters = k;
        r->eigenvalue = norm > 0 ? lambda : 0;
        if (norm == 0 || (k > 1 && fabs(lambda - prev) <= tol * fabs(lambda))) {
            r->converged = true;
            return true;
        }
        prev = lambda;
        scale_into(pb->n, v, w, 1 / norm);
    }
    return true;
}

bool ag_hessian_top_eig_(ag_loss_fn loss, void *userdata, int n, ag_tensor *const *params,
                         const ag_hessian_eig_opts *opts, ag_hessian_eig_result *result) {
    const problem pb = {"hessian_top_eig", loss, userdata, n, params};
    if (!eig_opts_ok(opts, result)) return false;
    *result = (ag_hessian_eig_result){.eigenvalue = NAN, .loss = NAN};
    if (!params_ok(&pb)) return false;
    const int iters = opts && opts->iters ? opts->iters : 20;
    const double tol = opts && opts->tol > 0 ? opts->tol : 1e-3;
    ag_arena *K = ag_arena_new_(0), *G = ag_arena_new_(0);
    ag_tensor **v = malloc(2 * (size_t)n * sizeof *v);
    bool ok = K && G && v;
    if (!v) ag__fail(pb.op, "out of memory for %d parameters", n);
    ag_rng rng;
    ag_rng_seed(&rng, opts ? opts->seed : 0);
    for (int i = 0; ok && i < n; i++) {
        const ag_tensor *p = params[i];
        ok = (v[i] = ag_randn_(K, &rng, p->dtype, p->ndim, p->shape, 0, 1)) != NULL;
    }
    if (ok) {
        const double norm = sqrt(dot(n, v, v));
        if (norm > 0) {
            scale_into(n, v, v, 1 / norm);
            ok = iterate(&pb, G, v, v + n, iters, tol, result);
        } else { /* no elements: H is empty */
            *result = (ag_hessian_eig_result){.eigenvalue = 0, .loss = NAN, .converged = true};
        }
    }
    free(v);
    ag_arena_free(G);
    ag_arena_free(K);
    return ok;
}
