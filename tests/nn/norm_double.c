/* tests/nn/norm_double.c — the fused norms differentiated twice (their vjp
 * and the fused double backward, nn/norm_double.c): second derivatives by
 * hand at D = 1 and D = 2; the fused double backward against the double
 * backward of the same norm composed from ops (f64, 1e-10) for every flag
 * combination and several shapes, D = 1 included; f32 (the AVX2 and the
 * portable first-backward loops) against f64; and a third derivative, which
 * the *_backward ops refuse by name.
 *
 * The composed references use a row mean written here as a custom op with a
 * vjp (mean over the trailing dims, keepdim): the library's composed RMSNorm
 * (ag_rms_norm_composed) goes through the reduction ops, whose own vjps are
 * another family's. */
#include <ag/custom_op.h>
#include <ag/norm_ops.h>

#include "nn_test.h"

/* ---- a row mean with a vjp (f64) ------------------------------------------------ */

/* iparam[0]: the elements per row, D. */
static void row_mean_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag_grad_accum_buf_(x);
    if (!gx) return;
    const int64_t D = out->iparam[0];
    const double *g = out->grad->data;
    double *d = gx->data;
    for (int64_t i = 0; i < x->numel; i++) d[i] += g[i / D] / (double)D;
}

/* d mean / dx = 1/D on every element of the row: g times a constant of x's
 * shape (mul broadcasts g's trailing 1s; its own vjp sums them back). */
static bool row_mean_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_tensor *x = out->src[0];
    ag_tensor *c = ag_full_(out->arena, AG_F64, x->ndim, x->shape, 1.0 / (double)out->iparam[0]);
    grads[0] = ag_mul_(out->arena, g, c);
    return grads[0] != NULL;
}

static const ag_op ROW_MEAN = {"row_mean", row_mean_backward, row_mean_vjp};

/* The mean of x (f64) over its last nshape dims, keeping them as 1s. */
static ag_tensor *row_mean(ag_arena *A, ag_tensor *x, int nshape) {
    int64_t shape[AG_MAX_DIMS], D = 1;
    for (int k = 0; k < x->ndim; k++) {
        const bool inner = k >= x->ndim - nshape;
        shape[k] = inner ? 1 : x->shape[k];
        if (inner) D *= x->shape[k];
    }
    ag_tensor *y = ag_op_result_(A, "row_mean", AG_F64, x->ndim, shape);
    const double *xv = x->data;
    double *yv = y->data;
    for (int64_t i = 0; i < y->numel; i++) {
        double s = 0;
        for (int64_t k = 0; k < D; k++) s += xv[i * D + k];
        yv[i] = s / (double)D;
    }
    y->iparam[0] = D;
    return ag_op_record_(y, &ROW_MEAN, 1, (ag_tensor *[]){x});
}

/* ---- the norms composed from ops ------------------------------------------------ */

typedef struct {
    int ndim;
    int64_t shape[AG_MAX_DIMS]; /* x's */
    int nshape;                 /* the trailing dims normalized */
    unsigned flags;             /* RMSNorm's AG_RMS_* */
    bool layer, w, b;           /* LayerNorm; weight, bias present */
    double eps;
} norm_case;

/* RMSNorm: x * rsqrt(mean(x^2) + eps) (or x / sqrt(...)) * w_eff. */
static ag_tensor *rms_composed(ag_arena *A, const norm_case *c, ag_tensor *x, ag_tensor *w) {
    ag_tensor *s = ag_add_scalar(A, row_mean(A, ag_mul(A, x, x), c->nshape), c->eps);
    ag_tensor *y = c->flags & AG_RMS_SQRT_DIV ? ag_div(A, x, ag_sqrt(A, s))
                                              : ag_mul(A, x, ag_rsqrt(A, s));
    if (!w) return y;
    return ag_mul(A, y, c->flags & AG_RMS_UNIT_OFFSET ? ag_add_scalar(A, w, 1.0) : w);
}

/* LayerNorm: (x - mean) * rsqrt(mean((x - mean)^2) + eps) * w + b. */
static ag_tensor *ln_composed(ag_arena *A, const norm_case *c, ag_tensor *x, ag_tensor *w,
                              ag_tensor *b) {
    ag_tensor *xc = ag_sub(A, x, row_mean(A, x, c->nshape));
    ag_tensor *var = row_mean(A, ag_mul(A, xc, xc), c->nshape);
    ag_tensor *y = ag_mul(A, xc, ag_rsqrt(A, ag_add_scalar(A, var, c->eps)));
    if (w) y = ag_mul(A, y, w);
    return b ? ag_add(A, y, b) : y;
}

static ag_tensor *fused(ag_arena *A, const norm_case *c, ag_tensor *x, ag_tensor *w,
                        ag_tensor *b) {
    const int64_t *ns = c->shape + c->ndim - c->nshape;
    return c->layer ? ag_layer_norm(A, x, c->nshape, ns, w, b, c->eps)
                    : ag_rms_norm(A, x, c->nshape, ns, w, c->eps, c->flags);
}

/* ---- second derivatives of <norm(x, w, b), v> ------------------------------------- */

/* The inputs of one comparison: in = x, w, b (those present), then v (y's
 * gradient); p[k] is the random vector the first gradient of in[k] is
 * dotted with before differentiating again. */
enum { NMAX = 4 };
typedef struct {
    int n; /* inputs before v */
    ag_tensor *in[NMAX], *p[NMAX];
} second_inputs;

static second_inputs draw(ag_arena *A, ag_rng *r, const norm_case *c, ag_dtype dt) {
    second_inputs s = {0};
    const int64_t *ns = c->shape + c->ndim - c->nshape;
    s.in[s.n++] = ag_randn(A, r, dt, c->ndim, c->shape, 0.3, 1.0);
    if (c->w) s.in[s.n++] = ag_randn(A, r, dt, c->nshape, ns, 0.5, 0.5);
    if (c->b) s.in[s.n++] = ag_randn(A, r, dt, c->nshape, ns, 0.0, 0.5);
    s.in[s.n] = ag_randn(A, r, dt, c->ndim, c->shape, 0.0, 1.0); /* v */
    for (int k = 0; k < s.n; k++) s.p[k] = ag_randn(A, r, dt, s.in[k]->ndim, s.in[k]->shape, 0, 1);
    for (int k = 0; k <= s.n; k++) ag_set_requires_grad(s.in[k], true);
    return s;
}

/* The gradients of sum_k <dL/d in[k], p[k]>, L = <norm(x, w, b), v>, with
 * respect to x, w, b and v (into out[0..n]): ag_grad with create_graph,
 * then ag_grad again. composed: the norm from ops instead of the fused op. */
static bool second_grads(ag_arena *A, const norm_case *c, const second_inputs *s, bool composed,
                         ag_tensor **out) {
    ag_tensor *x = s->in[0], *w = c->w ? s->in[1] : NULL, *b = c->b ? s->in[c->w ? 2 : 1] : NULL;
    ag_tensor *y = !composed   ? fused(A, c, x, w, b)
                   : c->layer ? ln_composed(A, c, x, w, b)
                              : rms_composed(A, c, x, w);
    ag_tensor *g[NMAX];
    if (!y || !ag_grad(1, &y, &s->in[s->n], s->n, s->in, g, true)) return false;
    return ag_grad(s->n, g, s->p, s->n + 1, s->in, out, false);
}

static void check_case(const norm_case *c, uint64_t seed) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, seed);
    const second_inputs s = draw(A, &r, c, AG_F64);
    ag_tensor *want[NMAX], *got[NMAX];
    ck_assert(second_grads(A, c, &s, true, want));
    ck_assert(second_grads(A, c, &s, false, got));
    for (int k = 0; k <= s.n; k++) {
        ck_assert(ag_same_shape(got[k], want[k]));
        const char *name = k == s.n ? "v" : k == 0 ? "x" : k == 1 && c->w ? "w" : "b";
        for (int64_t i = 0; i < got[k]->numel; i++) {
            const double a = ag_get_flat(got[k], i), e = ag_get_flat(want[k], i);
            ck_assert_msg(fabs(a - e) <= 1e-10 * (fabs(e) > 1 ? fabs(e) : 1),
                          "%s case %llu (flags %u, w %d, b %d): d%s[%lld] = %.17g, composed "
                          "%.17g", c->layer ? "layer_norm" : "rms_norm",
                          (unsigned long long)seed, c->flags, c->w, c->b, name, (long long)i, a,
                          e);
        }
    }
    ag_arena_free(A);
}

/* The shapes every flag combination runs on: rows of 5, [2,5] and [1,3,4],
 * D = 1, and a single row. */
static const struct {
    int ndim, nshape;
    int64_t shape[4];
} SHAPES[] = {
    {2, 1, {4, 5}}, {4, 2, {3, 2, 2, 5}}, {2, 1, {6, 1}}, {4, 3, {2, 1, 3, 4}}, {1, 1, {7}},
};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0] };

static norm_case case_of(int shape, bool layer, unsigned flags, bool w, bool b) {
    norm_case c = {.ndim = SHAPES[shape].ndim, .nshape = SHAPES[shape].nshape, .flags = flags,
                   .layer = layer, .w = w, .b = b, .eps = 1e-2};
    for (int k = 0; k < c.ndim; k++) c.shape[k] = SHAPES[shape].shape[k];
    return c;
}

START_TEST(rms_fused_vs_composed) {
    /* weight: none, plain, 1 + w; the offset flag without a weight too */
    static const struct {
        unsigned flags;
        bool w;
    } FORMS[] = {{0, false}, {0, true}, {AG_RMS_UNIT_OFFSET, true}, {AG_RMS_UNIT_OFFSET, false}};
    for (int sh = 0; sh < NSHAPES; sh++)
        for (int f = 0; f < 4; f++)
            for (int sd = 0; sd < 2; sd++) {
                const unsigned flags = FORMS[f].flags | (sd ? AG_RMS_SQRT_DIV : 0);
                const norm_case c = case_of(sh, false, flags, FORMS[f].w, false);
                check_case(&c, 100 + (uint64_t)(sh * 8 + f * 2 + sd));
            }
}
END_TEST

START_TEST(ln_fused_vs_composed) {
    for (int sh = 0; sh < NSHAPES; sh++)
        for (int wb = 0; wb < 4; wb++) {
            const norm_case c = case_of(sh, true, 0, wb & 1, wb & 2);
            check_case(&c, 200 + (uint64_t)(sh * 4 + wb));
        }
}
END_TEST

/* eps = 0 and a large common offset (LayerNorm), a row scaled ~1e3. */
START_TEST(fused_vs_composed_edges) {
    norm_case c = case_of(0, true, 0, true, true);
    c.eps = 0;
    check_case(&c, 300);
    c = case_of(1, false, AG_RMS_UNIT_OFFSET, true, false);
    c.eps = 0;
    check_case(&c, 301);
    /* x ~ N(1e3, 1): LayerNorm's centring in the double backward */
    c = case_of(0, true, 0, true, false);
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 302);
    second_inputs s = draw(A, &r, &c, AG_F64);
    for (int64_t i = 0; i < s.in[0]->numel; i++)
        ag_set_flat(s.in[0], i, 1e3 + ag_get_flat(s.in[0], i));
    ag_tensor *want[NMAX], *got[NMAX];
    ck_assert(second_grads(A, &c, &s, true, want));
    ck_assert(second_grads(A, &c, &s, false, got));
    for (int k = 0; k <= s.n; k++)
        for (int64_t i = 0; i < got[k]->numel; i++) {
            const double e = ag_get_flat(want[k], i);
            ck_close(ag_get_flat(got[k], i), e, 1e-8 * (fabs(e) > 1 ? fabs(e) : 1));
        }
    ag_arena_free(A);
}
END_TEST

/* No rows: both passes give empty or zero gradients. */
START_TEST(empty_batch) {
    for (int layer = 0; layer < 2; layer++) {
        const norm_case c = {.ndim = 2, .shape = {0, 4}, .nshape = 1, .layer = layer,
                             .w = true, .b = layer, .eps = 1e-5};
        ag_arena *A = ag_arena_new(0);
        ag_rng r;
        ag_rng_seed(&r, 500);
        const second_inputs s = draw(A, &r, &c, AG_F64);
        ag_tensor *got[NMAX];
        ck_assert(second_grads(A, &c, &s, false, got));
        ck_assert_int_eq(got[0]->numel, 0);
        for (int k = 1; k < s.n; k++)
            for (int64_t i = 0; i < 4; i++) ck_assert(ag_get_flat(got[k], i) == 0);
        ag_arena_free(A);
    }
}
END_TEST

/* ---- by hand ------------------------------------------------------------------------ */

/* D = 1: y = w x / sqrt(x^2 + eps). At x = 1, eps = 3 (x^2 + eps = 4):
 *   dy/dx    = w eps / (x^2 + eps)^(3/2)        = 3w/8
 *   d2y/dx2  = -3 w eps x / (x^2 + eps)^(5/2)   = -9w/32
 *   d2y/dxdw = eps / (x^2 + eps)^(3/2)          = 3/8 */
START_TEST(rms_d1_by_hand) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(1, 1), (double[]){1});
    ag_tensor *w = ag_from_f64(A, AG_F64, AG_SHAPE(1), (double[]){2});
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(w, true);
    ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(1), w, 3.0, 0);
    ag_tensor *one = ag_ones(A, AG_F64, AG_SHAPE(1, 1));
    ag_tensor *gx;
    ck_assert(ag_grad(1, &y, &one, 1, &x, &gx, true));
    ck_close(ag_get_flat(gx, 0), 3.0 * 2 / 8, 1e-15);
    ag_tensor *h[2];
    ck_assert(ag_grad(1, &gx, &one, 2, (ag_tensor *[]){x, w}, h, false));
    ck_close(ag_get_flat(h[0], 0), -9.0 * 2 / 32, 1e-15);
    ck_close(ag_get_flat(h[1], 0), 3.0 / 8, 1e-15);
    ag_arena_free(A);
}
END_TEST

/* LayerNorm over D = 2, no weight: with d = (x1 - x2)/2, y1 = d / sqrt(d^2 +
 * eps). At x = (2, 0), eps = 3 (d = 1, d^2 + eps = 4), L = y1:
 *   dL/dx1     = (1/2) eps / (d^2 + eps)^(3/2)          = 3/16
 *   d2L/dx1^2  = (1/4) (-3 eps d) / (d^2 + eps)^(5/2)   = -9/128
 *   d2L/dx1dx2 = +9/128 (d depends on x2 with slope -1/2) */
START_TEST(ln_d2_by_hand) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){2, 0});
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_layer_norm(A, x, AG_SHAPE(2), NULL, NULL, 3.0);
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 0});
    ag_tensor *gx, *h;
    ck_assert(ag_grad(1, &y, &v, 1, &x, &gx, true));
    ck_close(ag_get_flat(gx, 0), 3.0 / 16, 1e-15);
    ck_close(ag_get_flat(gx, 1), -3.0 / 16, 1e-15);
    ag_tensor *e1 = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 0});
    ck_assert(ag_grad(1, &gx, &e1, 1, &x, &h, false));
    ck_close(ag_get_flat(h, 0), -9.0 / 128, 1e-15);
    ck_close(ag_get_flat(h, 1), 9.0 / 128, 1e-15);
    ag_arena_free(A);
}
END_TEST

/* The invariances of section 8 of docs/normalization.md, at eps 0, with L =
 * <dx, u> for random dy and u: LayerNorm's dx does not change when a row is
 * shifted, so sum(dL/dx) = 0 per row; both norms' dx scales as 1/s when a
 * row is scaled by s, so sum((x - mean) dL/dx) = -L per row (mean 0 for
 * RMSNorm). */
START_TEST(shift_and_scale) {
    const int64_t R = 3, D = 6;
    for (int layer = 0; layer < 2; layer++) {
        ag_arena *A = ag_arena_new(0);
        ag_rng r;
        ag_rng_seed(&r, 600 + (uint64_t)layer);
        ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(R, D), 0.3, 1);
        ag_tensor *dy = ag_randn(A, &r, AG_F64, AG_SHAPE(R, D), 0, 1);
        ag_tensor *u = ag_randn(A, &r, AG_F64, AG_SHAPE(R, D), 0, 1);
        ag_set_requires_grad(x, true);
        ag_tensor *y = layer ? ag_layer_norm(A, x, AG_SHAPE(D), NULL, NULL, 0.0)
                             : ag_rms_norm(A, x, AG_SHAPE(D), NULL, 0.0, 0);
        ag_tensor *dx, *h;
        ck_assert(ag_grad(1, &y, &dy, 1, &x, &dx, true));
        ck_assert(ag_grad(1, &dx, &u, 1, &x, &h, false));
        for (int64_t i = 0; i < R; i++) {
            double mean = 0, L = 0, sum = 0, scaled = 0;
            for (int64_t k = 0; k < D; k++) mean += layer ? ag_get_flat(x, i * D + k) / D : 0;
            for (int64_t k = 0; k < D; k++) {
                const int64_t j = i * D + k;
                L += ag_get_flat(u, j) * ag_get_flat(dx, j);
                sum += ag_get_flat(h, j);
                scaled += (ag_get_flat(x, j) - mean) * ag_get_flat(h, j);
            }
            if (layer) ck_close(sum, 0, 1e-12);
            ck_close(scaled, -L, 1e-12 * (fabs(L) > 1 ? fabs(L) : 1));
        }
        ag_arena_free(A);
    }
}
END_TEST

/* ---- f32, and a third derivative ------------------------------------------------ */

/* f32 against f64 on the same values: rows of 32 (the AVX2 first backward
 * where the build has it) and of 5 (the portable loops). */
START_TEST(f32_matches_f64) {
    for (int layer = 0; layer < 2; layer++)
        for (int wide = 0; wide < 2; wide++) {
            norm_case c = {.ndim = 2, .shape = {3, wide ? 32 : 5}, .nshape = 1,
                           .layer = layer, .w = true, .b = layer, .eps = 1e-2,
                           .flags = layer ? 0 : AG_RMS_UNIT_OFFSET};
            ag_arena *A = ag_arena_new(0);
            ag_rng r;
            ag_rng_seed(&r, 400 + (uint64_t)(layer * 2 + wide));
            second_inputs s64 = draw(A, &r, &c, AG_F64), s32 = s64;
            for (int k = 0; k <= s64.n; k++) {
                s32.in[k] = ag_detach(A, ag_cast(A, s64.in[k], AG_F32));
                ag_set_requires_grad(s32.in[k], true);
                if (k < s64.n) s32.p[k] = ag_cast(A, s64.p[k], AG_F32);
            }
            ag_tensor *want[NMAX], *got[NMAX];
            ck_assert(second_grads(A, &c, &s64, false, want));
            ck_assert(second_grads(A, &c, &s32, false, got));
            for (int k = 0; k <= s64.n; k++) {
                ck_assert_int_eq(got[k]->dtype, AG_F32);
                for (int64_t i = 0; i < got[k]->numel; i++) {
                    const double e = ag_get_flat(want[k], i);
                    ck_close(ag_get_flat(got[k], i), e, 1e-4 * (fabs(e) > 1 ? fabs(e) : 1));
                }
            }
            ag_arena_free(A);
        }
}
END_TEST

/* Keeps the first report (the later ones only say that a node failed). */
static void keep_first(const char *message, void *userdata) {
    char *first = userdata;
    if (!first[0]) snprintf(first, 256, "%s", message);
}

/* create_graph through the double backward: rms_norm_backward has no vjp,
 * and the report names it. */
START_TEST(third_order_refused) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x0 = ag_from_f64(A, AG_F64, AG_SHAPE(1, 3), (double[]){1, 2, 3});
    ag_set_requires_grad(x0, true);
    /* a recorded x: its gradient is the rms_norm_backward result itself (a
     * leaf's would be a clone of it) */
    ag_tensor *x = ag_mul_scalar(A, x0, 1.0);
    ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(3), NULL, 1e-6, 0);
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(1, 3), (double[]){1, -1, 2});
    ag_tensor *gx, *h;
    ck_assert(ag_grad(1, &y, &v, 1, &x, &gx, true));
    ck_assert_str_eq(gx->op->name, "rms_norm_backward");
    char first[256] = "";
    ag_set_error_handler(keep_first, first);
    const bool ok = ag_grad(1, &gx, &v, 1, &x, &h, true);
    ag_set_error_handler(NULL, NULL);
    ck_assert(!ok);
    ck_assert_msg(strstr(first, "ag: backward: rms_norm_backward has no differentiable backward"),
                  "first report: \"%s\"", first);
    ag_arena_free(A);
}
END_TEST

TCase *nn_norm_double_tcase(void) {
    TCase *tc = tcase_create("norm_double");
    tcase_add_test(tc, rms_fused_vs_composed);
    tcase_add_test(tc, ln_fused_vs_composed);
    tcase_add_test(tc, fused_vs_composed_edges);
    tcase_add_test(tc, empty_batch);
    tcase_add_test(tc, rms_d1_by_hand);
    tcase_add_test(tc, ln_d2_by_hand);
    tcase_add_test(tc, shift_and_scale);
    tcase_add_test(tc, f32_matches_f64);
    tcase_add_test(tc, third_order_refused);
    return tc;
}
