/* core/ops_shape.c — reshape, unsqueeze, squeeze (views that share storage)
 * and transpose, permute, narrow, slice, concat, expand, clone (copies).
 *
 * Moving data does not depend on what the bytes mean, so the forward kernels
 * move elements by size (2, 4 or 8 bytes) and serve every dtype, i32 included
 * (ids get reshaped, sliced and joined too). Backward kernels add, so they
 * need f32 or f64: a bf16 input that needs a gradient is cast to f32 first
 * (exact) and the result is cast back, as every other op does. The views and
 * clone accumulate elementwise, which handles bf16 directly.
 *
 * Kernels shared by several ops:
 *   ag__strided_copy / ag__strided_add (broadcast.c): permute and transpose
 *                   walk x through the permutation, expand through broadcast
 *                   strides; each backward adds along the same walk.
 *   slice_kernel    rows start, start+step, ... along one dim; slice, narrow,
 *                   concat and all their backwards.
 *
 * The recorded backwards (vjps, for second derivatives) are these ops again:
 * a view reshapes g back, permute applies the inverse permutation, concat
 * slices g, expand and clone pass g on (the engine sums an expand's down).
 * Slice and narrow need the one op added here, slice_backward (g's rows into
 * zeros of the source's shape), whose own vjp is a slice.
 */
#include <string.h>

#include "ag/custom_op.h"
#include "internal.h"

/* Products of the sizes before and after dim d. */
static int64_t outer_of(const ag_tensor *t, int d) { return ag__numel(d, t->shape); }
static int64_t inner_of(const ag_tensor *t, int d) {
    return ag__numel(t->ndim - d - 1, t->shape + d + 1);
}

/* ---- views: reshape, unsqueeze, squeeze ---------------------------------- */

/* out shares x's data and has as many elements: the gradient passes through
 * elementwise. */
static void view_backward(ag_tensor *out) {
    ag_tensor *gx = ag__grad_buf(out->src[0]);
    if (gx) ag__accumulate(gx, out->grad);
}

/* The recorded form (views and clone): g reshaped to x's shape. */
static bool view_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    const ag_tensor *x = out->src[0];
    grads[0] = ag_reshape_(out->arena, g, x->ndim, x->shape);
    return grads[0] != NULL;
}

static const ag_op RESHAPE = {"reshape", view_backward, view_vjp};
static const ag_op UNSQUEEZE = {"unsqueeze", view_backward, view_vjp};
static const ag_op SQUEEZE = {"squeeze", view_backward, view_vjp};

static ag_tensor *view_of(const ag_op *op, ag_arena *A, ag_tensor *x, int ndim,
                          const int64_t *shape) {
    ag_tensor *y = ag__view(op->name, A, x, ndim, shape);
    if (!ag__record(y, op, 1, &x)) return NULL;
    return y;
}

ag_tensor *ag_reshape_(ag_arena *A, ag_tensor *x, int ndim, const int64_t *shape) {
    if (!x) return NULL;
    if (ndim < 0 || ndim > AG_MAX_DIMS || (ndim > 0 && !shape)) {
        ag__fail("reshape", "cannot reshape %s: %d dims%s (expected 0..%d)", ag__shp(x), ndim,
                 ndim > 0 && ndim <= AG_MAX_DIMS ? " with a NULL shape" : "", AG_MAX_DIMS);
        return NULL;
    }
    int64_t s[AG_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) {
                ag__fail("reshape", "cannot reshape %s into %s: only one size may be -1",
                         ag__shp(x), ag__shp_of(ndim, shape));
                return NULL;
            }
            infer = i;
        } else if (shape[i] < 0) {
            ag__fail("reshape", "cannot reshape %s into %s: size %lld at dim %d is negative",
                     ag__shp(x), ag__shp_of(ndim, shape), (long long)shape[i], i);
            return NULL;
        } else if (shape[i] > 0 && known > INT64_MAX / shape[i]) {
            ag__fail("reshape", "cannot reshape %s into %s: too many elements", ag__shp(x),
                     ag__shp_of(ndim, shape));
            return NULL;
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known != 0) {
            ag__fail("reshape", "cannot reshape %s (%lld elements) into %s: no size for the -1 "
                     "gives %lld elements", ag__shp(x), (long long)x->numel,
                     ag__shp_of(ndim, shape), (long long)x->numel);
            return NULL;
        }
        s[infer] = x->numel / known;
    } else if (known != x->numel) {
        ag__fail("reshape", "cannot reshape %s (%lld elements) into %s (%lld elements)",
                 ag__shp(x), (long long)x->numel, ag__shp_of(ndim, shape), (long long)known);
        return NULL;
    }
    return view_of(&RESHAPE, A, x, ndim, s);
}

ag_tensor *ag_unsqueeze_(ag_arena *A, ag_tensor *x, int dim) {
    if (!x) return NULL;
    if (x->ndim >= AG_MAX_DIMS) {
        ag__fail("unsqueeze", "cannot unsqueeze %s: it already has the most dims (%d)",
                 ag__shp(x), AG_MAX_DIMS);
        return NULL;
    }
    const int n = x->ndim + 1; /* the new dim may go at any of n places */
    if (dim < -n || dim >= n) {
        ag__fail("unsqueeze", "dim %d is out of range for unsqueezing %s (expected %d..%d)", dim,
                 ag__shp(x), -n, n - 1);
        return NULL;
    }
    const int d = dim < 0 ? dim + n : dim;
    int64_t s[AG_MAX_DIMS];
    for (int i = 0, j = 0; i < n; i++) s[i] = i == d ? 1 : x->shape[j++];
    return view_of(&UNSQUEEZE, A, x, n, s);
}

/* A dim whose size is not 1 (or a 0-d x) gives a view of the same shape, as
 * torch.squeeze(x, dim) does. */
ag_tensor *ag_squeeze_(ag_arena *A, ag_tensor *x, int dim) {
    if (!x) return NULL;
    const int d = ag__dim("squeeze", dim, x);
    if (d < 0) return NULL;
    if (x->ndim == 0 || x->shape[d] != 1) return view_of(&SQUEEZE, A, x, x->ndim, x->shape);
    int64_t s[AG_MAX_DIMS];
    for (int i = 0, j = 0; i < x->ndim; i++)
        if (i != d) s[j++] = x->shape[i];
    return view_of(&SQUEEZE, A, x, x->ndim - 1, s);
}

/* ---- permute and transpose ----------------------------------------------- */

/* The walk of src through a permutation: out dim d is src dim perm[d]. */
static void permuted(const ag_tensor *src, const int64_t *perm, int64_t *shape,
                     int64_t *strides) {
    int64_t ss[AG_MAX_DIMS];
    ag__strides(src->ndim, src->shape, ss);
    for (int d = 0; d < src->ndim; d++) {
        shape[d] = src->shape[perm[d]];
        strides[d] = ss[perm[d]];
    }
}

/* iparam[0..ndim-1] holds the permutation: the gradient goes back along the
 * same walk the forward read. */
static void permute_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    if (!gx) return;
    int64_t shape[AG_MAX_DIMS], strides[AG_MAX_DIMS];
    permuted(x, out->iparam, shape, strides);
    ag__strided_add(gx, strides, out->grad);
}

/* The recorded form: g permuted back by the inverse permutation. */
static bool permute_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    int inverse[AG_MAX_DIMS] = {0};
    for (int d = 0; d < out->ndim; d++) inverse[out->iparam[d]] = d;
    grads[0] = ag_permute_(out->arena, g, inverse);
    return grads[0] != NULL;
}

static const ag_op PERMUTE = {"permute", permute_backward, permute_vjp};
static const ag_op TRANSPOSE = {"transpose", permute_backward, permute_vjp};

/* perm holds normalised dims 0..ndim-1, each once. */
static ag_tensor *permute_impl(const ag_op *op, ag_arena *A, ag_tensor *x,
                               const int64_t *perm) {
    ag_tensor *xc = ag__compute_form(A, x);
    if (!xc) return NULL;
    int64_t shape[AG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[perm[d]];
    ag_tensor *out = ag__result(op->name, A, xc->dtype, x->ndim, shape);
    if (!out) return NULL;
    int64_t strides[AG_MAX_DIMS];
    permuted(xc, perm, shape, strides);
    ag__strided_copy(out, xc, strides);
    for (int d = 0; d < x->ndim; d++) out->iparam[d] = perm[d];
    if (!ag__record(out, op, 1, &xc)) return NULL;
    return ag__as(A, out, x->dtype);
}

ag_tensor *ag_permute_(ag_arena *A, ag_tensor *x, const int *perm) {
    if (!x) return NULL;
    if (x->ndim > 0 && !perm) {
        ag__fail("permute", "perm is NULL for %s: expected %d dims", ag__shp(x), x->ndim);
        return NULL;
    }
    int64_t p[AG_MAX_DIMS];
    bool seen[AG_MAX_DIMS] = {false};
    for (int d = 0; d < x->ndim; d++) {
        const int n = x->ndim;
        if (perm[d] < -n || perm[d] >= n || seen[perm[d] < 0 ? perm[d] + n : perm[d]]) {
            char text[96];
            size_t k = 0;
            for (int i = 0; i < n && k < sizeof text - 16; i++)
                k += (size_t)snprintf(text + k, sizeof text - k, i ? ",%d" : "%d", perm[i]);
            ag__fail("permute", "perm (%s) is not a permutation of the %d dims of %s", text, n,
                     ag__shp(x));
            return NULL;
        }
        p[d] = perm[d] < 0 ? perm[d] + n : perm[d];
        seen[p[d]] = true;
    }
    return permute_impl(&PERMUTE, A, x, p);
}

ag_tensor *ag_transpose_(ag_arena *A, ag_tensor *x, int dim0, int dim1) {
    if (!x) return NULL;
    const int d0 = ag__dim("transpose", dim0, x);
    if (d0 < 0) return NULL;
    const int d1 = ag__dim("transpose", dim1, x);
    if (d1 < 0) return NULL;
    int64_t p[AG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) p[d] = d;
    if (x->ndim > 0) {
        p[d0] = d1;
        p[d1] = d0;
    }
    return permute_impl(&TRANSPOSE, A, x, p);
}

/* ---- slice, narrow, concat ------------------------------------------------ */

/* big has nbig entries along the dim, small has len; outer and inner are the
 * products of the sizes before and after it (equal for both). Rows
 * start, start+step, ... of big pair with rows 0, 1, ... of small. */
typedef enum {
    TAKE,     /* small  = big rows  (slice forward) */
    PUT,      /* big rows = small   (concat forward) */
    TAKE_ADD, /* small += big rows  (concat backward) */
    PUT_ADD,  /* big rows += small  (slice backward) */
} slice_mode;

typedef struct slice_job {
    slice_mode m;
    ag_dtype dt;
    void *small, *big;
    int64_t nbig, start, step, len, inner;
} slice_job;

/* Small rows [lo, hi) with their big rows, as the mode says. */
static void slice_range(const void *ctx, int64_t lo, int64_t hi) {
    const slice_job *j = ctx;
    const slice_mode m = j->m;
    const int64_t len = j->len, inner = j->inner, nbig = j->nbig;
    const int64_t start = j->start, step = j->step;
    if (m == TAKE || m == PUT) {
        AG_BY_SIZE(ag_dtype_size(j->dt), U, {
            U *s = j->small, *b = j->big;
            for (int64_t r = lo; r < hi; r++) {
                const int64_t o = r / len, i = r % len;
                U *bp = b + (o * nbig + start + i * step) * inner, *sp = s + r * inner;
                if (m == TAKE)
                    for (int64_t k = 0; k < inner; k++) sp[k] = bp[k];
                else
                    for (int64_t k = 0; k < inner; k++) bp[k] = sp[k];
            }
        });
        return;
    }
    AG_DISPATCH(j->dt, T, {
        T *s = j->small, *b = j->big;
        for (int64_t r = lo; r < hi; r++) {
            const int64_t o = r / len, i = r % len;
            T *bp = b + (o * nbig + start + i * step) * inner, *sp = s + r * inner;
            if (m == TAKE_ADD)
                for (int64_t k = 0; k < inner; k++) sp[k] += bp[k];
            else
                for (int64_t k = 0; k < inner; k++) bp[k] += sp[k];
        }
    });
}

static void slice_kernel(slice_mode m, ag_dtype dt, void *small, void *big, int64_t outer,
                         int64_t nbig, int64_t start, int64_t step, int64_t len,
                         int64_t inner) {
    const int64_t rows = outer * len;
    if (rows == 0 || inner == 0) return;
    /* Each big row pairs with at most one small row (step > 0): no races. */
    slice_job j = {m, dt, small, big, nbig, start, step, len, inner};
    ag__parallel_for(rows, rows * inner >= AG_PAR_MIN, slice_range, &j);
}

/* iparam: dim, start, step. */
static void slice_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    if (!gx) return;
    const int d = (int)out->iparam[0];
    slice_kernel(PUT_ADD, x->dtype, out->grad->data, gx->data, outer_of(x, d), x->shape[d],
                 out->iparam[1], out->iparam[2], out->shape[d], inner_of(x, d));
}

static bool slice_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);
static const ag_op SLICE = {"slice", slice_backward, slice_vjp};
static const ag_op NARROW = {"narrow", slice_backward, slice_vjp};

/* Rows start, start+step, ... (len of them, all inside x) along dim d. */
static ag_tensor *slice_impl(const ag_op *op, ag_arena *A, ag_tensor *x, int d,
                             int64_t start, int64_t step, int64_t len) {
    ag_tensor *xc = ag__compute_form(A, x);
    if (!xc) return NULL;
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = i == d ? len : x->shape[i];
    ag_tensor *out = ag__result(op->name, A, xc->dtype, x->ndim, shape);
    if (!out) return NULL;
    slice_kernel(TAKE, xc->dtype, out->data, xc->data, outer_of(x, d), x->shape[d], start,
                 step, len, inner_of(x, d));
    out->iparam[0] = d;
    out->iparam[1] = start;
    out->iparam[2] = step;
    if (!ag__record(out, op, 1, &xc)) return NULL;
    return ag__as(A, out, x->dtype);
}

/* Python's clamping: negative counts from the end, then clamp into 0..n. */
static int64_t clamp_index(int64_t i, int64_t n) {
    if (i < 0) i = i < -n ? 0 : i + n;
    return i > n ? n : i;
}

ag_tensor *ag_slice_(ag_arena *A, ag_tensor *x, int dim, int64_t start, int64_t end,
                     int64_t step) {
    if (!x) return NULL;
    if (x->ndim == 0) {
        ag__fail("slice", "cannot slice a 0-d tensor %s", ag__shp(x));
        return NULL;
    }
    const int d = ag__dim("slice", dim, x);
    if (d < 0) return NULL;
    if (step <= 0) {
        ag__fail("slice", "step %lld for dim %d of %s: expected a step > 0", (long long)step, d,
                 ag__shp(x));
        return NULL;
    }
    const int64_t n = x->shape[d];
    const int64_t s = clamp_index(start, n), e = clamp_index(end, n);
    const int64_t len = e > s ? (e - s - 1) / step + 1 : 0;
    return slice_impl(&SLICE, A, x, d, s, step, len);
}

ag_tensor *ag_narrow_(ag_arena *A, ag_tensor *x, int dim, int64_t start, int64_t length) {
    if (!x) return NULL;
    if (x->ndim == 0) {
        ag__fail("narrow", "cannot narrow a 0-d tensor %s", ag__shp(x));
        return NULL;
    }
    const int d = ag__dim("narrow", dim, x);
    if (d < 0) return NULL;
    const int64_t n = x->shape[d];
    /* torch.narrow: start may count from the end; no clamping. */
    const int64_t s = start < 0 ? start + n : start;
    if (s < 0 || s > n || length < 0 || length > n - s) {
        ag__fail("narrow", "start %lld and length %lld do not fit dim %d of %s (size %lld)",
                 (long long)start, (long long)length, d, ag__shp(x), (long long)n);
        return NULL;
    }
    return slice_impl(&NARROW, A, x, d, s, 1, length);
}

/* slice_backward: the gradient of slice and narrow as an op, so that it can
 * be differentiated again. z has the sliced tensor's shape, zeros but for
 * g's rows at start, start+step, ... along dim (iparam: dim, start, step, as
 * slice's); its own gradient takes those rows again (a slice). */
static void slice_grad_backward(ag_tensor *z) {
    ag_tensor *g = z->src[0];
    ag_tensor *gg = ag__grad_buf(g);
    if (!gg) return;
    const int d = (int)z->iparam[0];
    slice_kernel(TAKE_ADD, gg->dtype, gg->data, z->grad->data, outer_of(z, d), z->shape[d],
                 z->iparam[1], z->iparam[2], g->shape[d], inner_of(z, d));
}

static bool slice_grad_vjp(ag_tensor *z, ag_tensor *g, ag_tensor **grads) {
    const int d = (int)z->iparam[0];
    grads[0] = slice_impl(&SLICE, z->arena, g, d, z->iparam[1], z->iparam[2],
                          z->src[0]->shape[d]);
    return grads[0] != NULL;
}

static const ag_op SLICE_BACKWARD = {"slice_backward", slice_grad_backward, slice_grad_vjp};

static bool slice_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    const ag_tensor *x = out->src[0];
    const int d = (int)out->iparam[0];
    ag_tensor *gc = ag__compute_form(out->arena, g);
    ag_tensor *z = gc ? ag__result("slice_backward", out->arena, gc->dtype, x->ndim, x->shape)
                      : NULL;
    if (!z) return false;
    if (z->numel > 0) memset(z->data, 0, (size_t)z->numel * ag_dtype_size(z->dtype));
    slice_kernel(PUT, z->dtype, gc->data, z->data, outer_of(z, d), z->shape[d], out->iparam[1],
                 out->iparam[2], gc->shape[d], inner_of(z, d));
    for (int i = 0; i < 3; i++) z->iparam[i] = out->iparam[i];
    grads[0] = ag__record(z, &SLICE_BACKWARD, 1, &gc);
    return grads[0] != NULL;
}

/* iparam[0]: dim. Each source's rows of the gradient go back to it. */
static void concat_backward(ag_tensor *out) {
    const int d = (int)out->iparam[0];
    const int64_t outer = outer_of(out, d), inner = inner_of(out, d), nbig = out->shape[d];
    int64_t off = 0;
    for (int i = 0; i < out->nsrc; i++) {
        ag_tensor *x = out->src[i];
        ag_tensor *gx = ag__grad_buf(x);
        if (gx)
            slice_kernel(TAKE_ADD, out->dtype, gx->data, out->grad->data, outer, nbig, off, 1,
                         x->shape[d], inner);
        off += x->shape[d];
    }
}

/* The recorded form: each source's rows of g, sliced out. */
static bool concat_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    if (out->nsrc > AG_OP_MAX_SRCS) {
        ag__fail("concat", "a concat of %d tensors %s cannot be differentiated twice: at most "
                 "%d (concat in groups)", out->nsrc, ag__shp(out), AG_OP_MAX_SRCS);
        return false;
    }
    const int d = (int)out->iparam[0];
    int64_t off = 0;
    for (int i = 0; i < out->nsrc; i++) {
        const ag_tensor *x = out->src[i];
        if (x->requires_grad && !(grads[i] = slice_impl(&SLICE, out->arena, g, d, off, 1,
                                                        x->shape[d])))
            return false;
        off += x->shape[d];
    }
    return true;
}

static const ag_op CONCAT = {"concat", concat_backward, concat_vjp};

/* Dtypes: float inputs promote to the widest as binary ops do (bf16 < f32 <
 * f64; each cast is recorded, so gradients flow back in each input's dtype);
 * all-i32 inputs give an i32 result; mixing i32 with a float dtype is
 * reported, since ids and values joined in one tensor is almost always a bug
 * (PyTorch would promote the ids to float silently). */
ag_tensor *ag_concat_(ag_arena *A, int n, ag_tensor *const *xs, int dim) {
    if (n < 1 || !xs) {
        ag__fail("concat", "%d tensors%s: expected at least one", n,
                 n >= 1 ? " in a NULL list" : "");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!xs[i]) return NULL;
    if (!ag__check_arena("concat", A)) return NULL;
    const ag_tensor *x0 = xs[0];
    if (x0->ndim == 0) {
        ag__fail("concat", "tensor 0 is 0-d (%s): concat needs tensors with at least one dim",
                 ag__shp(x0));
        return NULL;
    }
    const int d = ag__dim("concat", dim, x0);
    if (d < 0) return NULL;
    int64_t shape[AG_MAX_DIMS];
    for (int k = 0; k < x0->ndim; k++) shape[k] = x0->shape[k];
    shape[d] = 0;
    ag_dtype dt = x0->dtype;
    for (int i = 0; i < n; i++) {
        const ag_tensor *x = xs[i];
        bool ok = x->ndim == x0->ndim;
        for (int k = 0; ok && k < x0->ndim; k++) ok = k == d || x->shape[k] == x0->shape[k];
        if (!ok) {
            ag__fail("concat", "tensor %d is %s and tensor 0 is %s: sizes must match except "
                     "along dim %d", i, ag__shp(x), ag__shp(x0), d);
            return NULL;
        }
        if ((x->dtype == AG_I32) != (x0->dtype == AG_I32)) {
            ag__fail("concat", "tensor 0 %s is %s and tensor %d %s is %s: cannot join i32 with "
                     "a float dtype (cast first)", ag__shp(x0), ag_dtype_name(x0->dtype), i,
                     ag__shp(x), ag_dtype_name(x->dtype));
            return NULL;
        }
        if (x->dtype != AG_I32) dt = ag__promote(dt, x->dtype);
        shape[d] += x->shape[d];
    }
    const ag_dtype ct = dt == AG_BF16 && ag__needs_grad(n, xs) ? AG_F32 : dt;
    ag_tensor **ys = ag_arena_alloc_(A, (size_t)n * sizeof *ys);
    if (!ys) return NULL;
    for (int i = 0; i < n; i++)
        if (!(ys[i] = ag__as(A, xs[i], ct))) return NULL;
    ag_tensor *out = ag__result("concat", A, ct, x0->ndim, shape);
    if (!out) return NULL;
    const int64_t outer = outer_of(out, d), inner = inner_of(out, d);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        slice_kernel(PUT, ct, ys[i]->data, out->data, outer, shape[d], off, 1, ys[i]->shape[d],
                     inner);
        off += ys[i]->shape[d];
    }
    out->iparam[0] = d;
    if (!ag__record(out, &CONCAT, n, ys)) return NULL;
    return ag__as(A, out, dt);
}

/* ---- expand ----------------------------------------------------------------- */

/* The gradient sums over the dims x was stretched along (and the new ones). */
static void expand_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    if (!gx) return;
    int64_t sx[AG_MAX_DIMS];
    ag__bcast_strides(x, out->ndim, sx);
    ag__strided_add(gx, sx, out->grad);
}

/* The recorded form: g itself; the engine sums it over the stretched dims. */
static bool pass_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    (void)out;
    grads[0] = g;
    return true;
}

static const ag_op EXPAND = {"expand", expand_backward, pass_vjp};

ag_tensor *ag_expand_(ag_arena *A, ag_tensor *x, int ndim, const int64_t *shape) {
    if (!x) return NULL;
    if (ndim < x->ndim || ndim > AG_MAX_DIMS || (ndim > 0 && !shape)) {
        ag__fail("expand", "cannot expand %s to %d dims%s: expected %d..%d", ag__shp(x), ndim,
                 ndim > 0 && !shape ? " with a NULL shape" : "", x->ndim, AG_MAX_DIMS);
        return NULL;
    }
    const int lead = ndim - x->ndim;
    int64_t s[AG_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        const int64_t want = shape[i];
        if (i < lead) {
            if (want < 0) {
                ag__fail("expand", "cannot expand %s to %s: size %lld at new leading dim %d "
                         "(-1 keeps the size of an existing dim only)", ag__shp(x),
                         ag__shp_of(ndim, shape), (long long)want, i);
                return NULL;
            }
            s[i] = want;
            continue;
        }
        const int64_t have = x->shape[i - lead];
        if (want == -1 || want == have) {
            s[i] = have;
        } else if (want >= 0 && have == 1) {
            s[i] = want;
        } else {
            ag__fail("expand", "cannot expand %s to %s: size %lld at dim %d %s", ag__shp(x),
                     ag__shp_of(ndim, shape), (long long)have, i,
                     want < 0 ? "has a negative target" : "is not 1 and differs from the target");
            return NULL;
        }
    }
    ag_tensor *xc = ag__compute_form(A, x);
    if (!xc) return NULL;
    ag_tensor *out = ag__result("expand", A, xc->dtype, ndim, s);
    if (!out) return NULL;
    int64_t sx[AG_MAX_DIMS];
    ag__bcast_strides(xc, ndim, sx);
    ag__strided_copy(out, xc, sx);
    if (!ag__record(out, &EXPAND, 1, &xc)) return NULL;
    return ag__as(A, out, x->dtype);
}

/* ---- clone -------------------------------------------------------------------- */

static const ag_op CLONE = {"clone", view_backward, pass_vjp};

ag_tensor *ag_clone_(ag_arena *A, ag_tensor *x) {
    if (!x) return NULL;
    ag_tensor *out = ag__result("clone", A, x->dtype, x->ndim, x->shape);
    if (!out) return NULL;
    if (x->numel > 0) memcpy(out->data, x->data, (size_t)x->numel * ag_dtype_size(x->dtype));
    if (!ag__record(out, &CLONE, 1, &x)) return NULL;
    return out;
}
