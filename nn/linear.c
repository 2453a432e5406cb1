/* nn/linear.c — F.linear and linear_add (r + F.linear) as ops, and the
 * nn.Linear module.
 *
 * x is viewed as rows [M, in] (M = product of the leading dims):
 *   forward   Y[M,out]  = X[M,in] W[out,in]^T (+ b)     one gemm, W read transposed
 *             with b or R (linear_add): Y = R + b first, the gemm adding into it
 *   backward  dX[M,in]  += dY[M,out] W[out,in]           gemm
 *             dW[out,in] += dY^T X                       gemm (sums over M)
 *             db[out]   += sum over rows of dY
 *             dR[M,out] += dY                            linear_add
 * so neither pass copies or transposes W. The vjp (a backward with
 * create_graph) makes the same products with recorded matmul ops.
 */
#include <math.h>

#include "ag/nn.h"
#include "internal.h"

/* Columns of dY summed at once: a block of them is read row after row, so
 * that dY is read in order once, not once a column down its stride. */
#define BIAS_BLOCK 256

/* db[j] += sum over the M rows of dY[i, j], each column summed in double in
 * row order. */
static void bias_grad(const ag_tensor *g, int64_t M, int64_t nout, ag_tensor *gb) {
    AG_DISPATCH(g->dtype, T, {
        const T *pg = g->data;
        T *pb = gb->data;
        for (int64_t j0 = 0; j0 < nout; j0 += BIAS_BLOCK) {
            const int64_t nj = nout - j0 < BIAS_BLOCK ? nout - j0 : BIAS_BLOCK;
            double s[BIAS_BLOCK] = {0};
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < nj; j++) s[j] += pg[i * nout + j0 + j];
            for (int64_t j = 0; j < nj; j++) pb[j0 + j] += (T)s[j];
        }
    });
}

static void linear_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0], *w = out->src[1], *b = out->nsrc > 2 ? out->src[2] : NULL;
    const int64_t in = w->shape[1], nout = w->shape[0], M = ag__numel(x->ndim - 1, x->shape);
    /* dx and dW are each one gemm: stored (beta 0) into fresh buffers */
    double bx, bw;
    ag_tensor *gx = ag__grad_buf_gemm(x, true, nout, &bx), *gw = ag__grad_buf_gemm(w, true, M, &bw);
    ag_tensor *gb = b ? ag__grad_buf(b) : NULL;
    const ag_tensor *g = out->grad;
    if (M == 0) return;
    if (gx) ag__gemm(false, false, M, in, nout, 1.0, g->data, nout, w->data, in, bx, gx->data, in,
                     out->dtype);
    if (gw) ag__gemm(true, false, nout, in, M, 1.0, g->data, nout, x->data, in, bw, gw->data, in,
                     out->dtype);
    if (gb) bias_grad(g, M, nout, gb);
}

/* The recorded backward: dx = g @ W; dW = g^T x with the leading dims as
 * rows ([M,out]^T @ [M,in]); db = g, which the engine sums over the rows. */
static bool linear_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    ag_tensor *x = out->src[0], *w = out->src[1], *b = out->nsrc > 2 ? out->src[2] : NULL;
    if (x->requires_grad && !(grads[0] = ag_matmul_(A, g, w))) return false;
    if (w->requires_grad) {
        const int64_t M = ag__numel(x->ndim - 1, x->shape);
        ag_tensor *g2 = ag_reshape_(A, g, 2, (const int64_t[]){M, w->shape[0]});
        ag_tensor *x2 = ag_reshape_(A, x, 2, (const int64_t[]){M, w->shape[1]});
        if (!(grads[1] = ag_matmul_(A, ag_transpose_(A, g2, 0, 1), x2))) return false;
    }
    if (b && b->requires_grad) grads[2] = g;
    return true;
}

static const ag_op LINEAR = {"linear", linear_backward, linear_vjp};

/* Rows [lo, hi) of y = r + bias, rows of nout (r NULL: the bias in every
 * row; bias NULL: a copy of r): the result before the product is added into
 * it, and linear_add's first gradient of r. */
typedef struct start_job {
    ag_dtype dt;
    int64_t nout;
    const void *r, *bias;
    void *y;
} start_job;

static void start_rows(const void *ctx, int64_t lo, int64_t hi) {
    const start_job *j = ctx;
    const int64_t n = j->nout;
    AG_DISPATCH(j->dt, T, {
        const T *pr = j->r, *pb = j->bias;
        T *py = j->y;
        for (int64_t i = lo; i < hi; i++) {
            T *y = py + i * n;
            const T *r = pr ? pr + i * n : NULL;
            if (r && pb)
                for (int64_t c = 0; c < n; c++) y[c] = r[c] + pb[c];
            else if (r) /* a copy, bit for bit (-0 stays -0) */
                for (int64_t c = 0; c < n; c++) y[c] = r[c];
            else
                for (int64_t c = 0; c < n; c++) y[c] = pb[c];
        }
    });
}

static void start(ag_dtype dt, int64_t M, int64_t nout, const void *r, const void *bias,
                  void *y) {
    const start_job j = {dt, nout, r, bias, y};
    ag__parallel_for(M, M * nout >= AG_PAR_MIN, start_rows, &j);
}

/* linear_add: linear's gradients (its sources x, weight, bias are the
 * first three, bias NULL without one), and dr += dY. */
static void linear_add_backward(ag_tensor *out) {
    linear_backward(out);
    ag_tensor *r = out->src[3];
    if (!r->requires_grad) return;
    if (r->grad) {
        ag__accumulate(r->grad, out->grad);
        return;
    }
    ag_tensor *gr = ag__grad_buf_raw(r);
    const int64_t nout = out->shape[out->ndim - 1];
    if (gr && gr->numel) start(gr->dtype, gr->numel / nout, nout, out->grad->data, NULL, gr->data);
}

static bool linear_add_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    if (!linear_vjp(out, g, grads)) return false;
    if (out->src[3]->requires_grad) grads[3] = g;
    return true;
}

static const ag_op LINEAR_ADD = {"linear_add", linear_add_backward, linear_add_vjp};

static bool linear_args_ok(const char *op, const ag_tensor *x, const ag_tensor *w,
                           const ag_tensor *b) {
    if (!ag__check_float(op, x) || !ag__check_float(op, w) ||
        (b && !ag__check_float(op, b)))
        return false;
    if (w->ndim != 2) {
        ag__fail(op, "weight %s must be 2-d [out_features, in_features]", ag__shp(w));
        return false;
    }
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        ag__fail(op, "input %s must end in in_features = %lld to match weight %s",
                 ag__shp(x), (long long)w->shape[1], ag__shp(w));
        return false;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        ag__fail(op, "bias %s must be [%lld] to match weight %s", ag__shp(b),
                 (long long)w->shape[0], ag__shp(w));
        return false;
    }
    return true;
}

/* r (when given) must have the result's shape [..., out]. */
static bool residual_ok(const char *op, const ag_tensor *x, const ag_tensor *w,
                        const ag_tensor *r) {
    if (!ag__check_float(op, r)) return false;
    bool same = r->ndim == x->ndim && r->shape[r->ndim - 1] == w->shape[0];
    for (int d = 0; same && d < x->ndim - 1; d++) same = r->shape[d] == x->shape[d];
    if (!same) {
        ag__fail(op, "r %s must have the shape of linear(x %s, weight %s): x's leading dims, "
                 "then out_features = %lld", ag__shp(r), ag__shp(x), ag__shp(w),
                 (long long)w->shape[0]);
        return false;
    }
    return true;
}

/* linear(x, weight, bias), plus r when r is given (ag_linear_add). With r
 * or a bias the result starts as r + bias (one pass) and the product is
 * added into it by the gemm (beta 1), as torch.addmm does: the sums cost no
 * pass of their own. */
static ag_tensor *linear_op(ag_arena *A, const char *op, ag_tensor *x, ag_tensor *weight,
                           ag_tensor *bias, ag_tensor *r) {
    if (!linear_args_ok(op, x, weight, bias) || (r && !residual_ok(op, x, weight, r)))
        return NULL;
    ag_dtype dt = ag__promote(x->dtype, weight->dtype);
    if (bias) dt = ag__promote(dt, bias->dtype);
    if (r) dt = ag__promote(dt, r->dtype);
    const ag_dtype ct = ag_compute_dtype(dt);
    ag_tensor *xc = ag__as(A, x, ct), *wc = ag__as(A, weight, ct);
    ag_tensor *bc = bias ? ag__as(A, bias, ct) : NULL, *rc = r ? ag__as(A, r, ct) : NULL;
    if (!xc || !wc || (bias && !bc) || (r && !rc)) return NULL;
    const int64_t in = weight->shape[1], nout = weight->shape[0];
    const int64_t M = ag__numel(x->ndim - 1, x->shape);
    int64_t shape[AG_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) shape[d] = x->shape[d];
    shape[x->ndim - 1] = nout;
    ag_tensor *y = ag__result(op, A, ct, x->ndim, shape);
    if (!y) return NULL;
    const bool start_first = rc || bc;
    if (start_first) start(ct, M, nout, rc ? rc->data : NULL, bc ? bc->data : NULL, y->data);
    if (M > 0 && nout > 0)
        ag__gemm(false, true, M, nout, in, 1.0, xc->data, in, wc->data, in,
                 start_first ? 1.0 : 0.0, y->data, nout, ct);
    const bool ok = r ? ag__record(y, &LINEAR_ADD, 4, (ag_tensor *[]){xc, wc, bc, rc}) != NULL
                      : ag__record(y, &LINEAR, bc ? 3 : 2, (ag_tensor *[]){xc, wc, bc}) != NULL;
    return ok ? ag__as(A, y, dt) : NULL;
}

ag_tensor *ag_linear_(ag_arena *A, ag_tensor *x, ag_tensor *weight, ag_tensor *bias) {
    if (!x || !weight) return NULL;
    return linear_op(A, "linear", x, weight, bias, NULL);
}

ag_tensor *ag_linear_add_(ag_arena *A, ag_tensor *x, ag_tensor *weight, ag_tensor *bias,
                          ag_tensor *r) {
    if (!x || !weight || !r) return NULL;
    return linear_op(A, "linear_add", x, weight, bias, r);
}

/* ---- nn.Linear ------------------------------------------------------------- */

static ag_tensor *linear_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_linear_forward_(A, (ag_nn_linear *)m, x);
}

static void linear_describe(const ag_module *m, char *buf, size_t size) {
    const ag_nn_linear *l = (const ag_nn_linear *)m;
    snprintf(buf, size, "in_features=%lld, out_features=%lld, bias=%s",
             (long long)l->in_features, (long long)l->out_features, l->bias ? "true" : "false");
}

const ag_module_type ag_nn_linear_type = {"Linear", linear_forward, linear_describe};

ag_nn_linear *ag_nn_linear_new_(ag_arena *P, ag_rng *r, int64_t in_features,
                                int64_t out_features, bool bias) {
    if (!P || !r || in_features < 0 || out_features < 0) {
        ag__fail("nn_linear_new", "Linear(%lld, %lld): expected an arena, an rng and sizes >= 0",
                 (long long)in_features, (long long)out_features);
        return NULL;
    }
    ag_nn_linear *l = ag_arena_calloc_(P, sizeof *l);
    if (!l) return NULL;
    ag_module_init(&l->base, &ag_nn_linear_type, P);
    l->in_features = in_features;
    l->out_features = out_features;
    l->weight = ag__result("nn_linear_new", P, AG_F32, 2,
                           (const int64_t[]){out_features, in_features});
    /* kaiming_uniform(a = sqrt(5)) is uniform in ±1/sqrt(in), as is the bias */
    double bound = in_features > 0 ? 1.0 / sqrt((double)in_features) : 0.0;
    if (!l->weight || !ag_init_uniform_(l->weight, r, -bound, bound) ||
        !ag_module_add_param_(&l->base, "weight", l->weight))
        return NULL;
    if (bias) {
        l->bias = ag__result("nn_linear_new", P, AG_F32, 1, (const int64_t[]){out_features});
        if (!l->bias || !ag_init_uniform_(l->bias, r, -bound, bound) ||
            !ag_module_add_param_(&l->base, "bias", l->bias))
            return NULL;
    }
    return l;
}

ag_tensor *ag_nn_linear_forward_(ag_arena *A, ag_nn_linear *m, ag_tensor *x) {
    if (!m || !x) return NULL;
    return ag_linear_(A, x, m->weight, m->bias);
}
