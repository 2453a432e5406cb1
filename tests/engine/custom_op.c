/* tests/engine/custom_op.c — ops defined outside the library through
 * ag/custom_op.h: forward values, hand-written backwards against their
 * formulas, what the engine records, the context, aliasing (a source given
 * twice, an output used twice) and ag_gradcheck accepting a right backward
 * and refusing wrong ones.
 *
 * The ops (f64 only, refusing anything else):
 *   cube(x)       = x^3                 dx += g 3 x^2
 *   muladd(a, b)  = a b + a             da += g (b + 1), db += g a
 *   scaled(x; s)  = s x  (s saved in the context's numbers)
 * and broken variants: cube_wrong (dx += g 2 x^2), cube_overwrite and
 * muladd_overwrite (= instead of +=). */
#include <math.h>
#include <string.h>

#include "../ops/ops_test.h"
#include "engine_test.h"

static ag_arena *A;
static int reports;
static int cube_backward_runs;

static void setup(void) {
    A = engine_test_start(&reports);
    cube_backward_runs = 0;
}

static void teardown(void) { engine_test_end(A); }

/* ---- the ops ---------------------------------------------------------------- */

typedef enum { RIGHT, WRONG_FORMULA, OVERWRITE } variant;

static void cube_backward_as(ag_tensor *out, variant v) {
    cube_backward_runs++;
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag_grad_accum_buf_(x);
    if (!gx) return;
    const double *xv = x->data, *g = out->grad->data;
    double *dx = gx->data;
    for (int64_t i = 0; i < x->numel; i++) {
        const double d = g[i] * (v == WRONG_FORMULA ? 2 : 3) * xv[i] * xv[i];
        dx[i] = v == OVERWRITE ? d : dx[i] + d;
    }
}
static void cube_backward(ag_tensor *out) { cube_backward_as(out, RIGHT); }
static void cube_wrong_backward(ag_tensor *out) { cube_backward_as(out, WRONG_FORMULA); }
static void cube_overwrite_backward(ag_tensor *out) { cube_backward_as(out, OVERWRITE); }
static const ag_op CUBE = {"cube", cube_backward, NULL};
static const ag_op CUBE_WRONG = {"cube", cube_wrong_backward, NULL};
static const ag_op CUBE_OVERWRITE = {"cube", cube_overwrite_backward, NULL};

static ag_tensor *cube_op(ag_arena *Ar, ag_tensor *x, const ag_op *op) {
    if (!x) return NULL;
    if (x->dtype != AG_F64) {
        ag_op_fail_("cube", "input %s: expected f64", ag_dtype_name(x->dtype));
        return NULL;
    }
    ag_tensor *y = ag_op_result_(Ar, "cube", AG_F64, x->ndim, x->shape);
    if (!y) return NULL;
    const double *xv = x->data;
    double *yv = y->data;
    for (int64_t i = 0; i < x->numel; i++) yv[i] = xv[i] * xv[i] * xv[i];
    return ag_op_record_(y, op, 1, (ag_tensor *[]){x});
}

static void muladd_backward_as(ag_tensor *out, variant v) {
    ag_tensor *a = out->src[0], *b = out->src[1];
    ag_tensor *ga = ag_grad_accum_buf_(a), *gb = ag_grad_accum_buf_(b);
    const double *av = a->data, *bv = b->data, *g = out->grad->data;
    for (int64_t i = 0; i < out->numel; i++) {
        if (ga) {
            double *da = ga->data;
            da[i] = (v == OVERWRITE ? 0 : da[i]) + g[i] * (bv[i] + 1);
        }
        if (gb) {
            double *db = gb->data;
            db[i] = (v == OVERWRITE ? 0 : db[i]) + g[i] * av[i];
        }
    }
}
static void muladd_backward(ag_tensor *out) { muladd_backward_as(out, RIGHT); }
static void muladd_overwrite_backward(ag_tensor *out) { muladd_backward_as(out, OVERWRITE); }
static const ag_op MULADD = {"muladd", muladd_backward, NULL};
static const ag_op MULADD_OVERWRITE = {"muladd", muladd_overwrite_backward, NULL};

/* a and b: f64 of one shape */
static ag_tensor *muladd_op(ag_arena *Ar, ag_tensor *a, ag_tensor *b, const ag_op *op) {
    if (!a || !b) return NULL;
    ag_tensor *y = ag_op_result_(Ar, "muladd", AG_F64, a->ndim, a->shape);
    if (!y) return NULL;
    const double *av = a->data, *bv = b->data;
    double *yv = y->data;
    for (int64_t i = 0; i < a->numel; i++) yv[i] = av[i] * bv[i] + av[i];
    return ag_op_record_(y, op, 2, (ag_tensor *[]){a, b});
}

/* The scale lives in the context; backward reads it from there. */
static void scaled_backward(ag_tensor *out) {
    ag_tensor *gx = ag_grad_accum_buf_(out->src[0]);
    if (!gx) return;
    const double s = ag_op_ctx_(out)->d[0];
    const double *g = out->grad->data;
    double *dx = gx->data;
    for (int64_t i = 0; i < out->numel; i++) dx[i] += s * g[i];
}
static const ag_op SCALED = {"scaled", scaled_backward, NULL};

static ag_tensor *scaled_op(ag_tensor *x, double s) {
    ag_tensor *y = ag_op_result_(A, "scaled", AG_F64, x->ndim, x->shape);
    ag_op_ctx *c = ag_op_ctx_(y);
    c->d[0] = s;
    for (int64_t i = 0; i < x->numel; i++) ((double *)y->data)[i] = s * ((double *)x->data)[i];
    return ag_op_record_(y, &SCALED, 1, (ag_tensor *[]){x});
}

static ag_tensor *leaf(int ndim, const int64_t *shape, const double *v) {
    ag_tensor *t = ag_from_f64(A, AG_F64, ndim, shape, v);
    ck_assert_ptr_nonnull(t);
    ag_set_requires_grad(t, true);
    return t;
}

/* ---- forward, backward, recording ------------------------------------------- */

START_TEST(cube_forward_and_backward_by_hand) {
    ag_tensor *x = leaf(AG_SHAPE(3), (const double[]){1, -2, 0.5});
    ag_tensor *y = cube_op(A, x, &CUBE);
    ck_values(y, 3, ((double[]){1, -8, 0.125}), 0);
    ck_assert_ptr_eq(y->op, &CUBE);
    ck_assert(y->requires_grad);
    ck_assert_int_eq(y->nsrc, 1);
    /* d/dx sum(y * w) = w 3 x^2 = {1*3, 2*12, 4*0.75} */
    ag_tensor *w = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){1, 2, 4});
    ck_assert(ag_backward(y, w));
    ck_values(x->grad, 3, ((double[]){3, 24, 3}), 0);
    ck_assert_int_eq(cube_backward_runs, 1);
    /* a leaf accumulates over passes; the op's backward runs once per pass */
    ck_assert(ag_backward(y, w));
    ck_values(x->grad, 3, ((double[]){6, 48, 6}), 0);
    ck_assert_int_eq(cube_backward_runs, 2);
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(records_nothing_without_a_gradient_to_make) {
    ag_tensor *c = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){2, 3});
    ag_tensor *y = cube_op(A, c, &CUBE);
    ck_values(y, 2, ((double[]){8, 27}), 0);
    ck_assert(ag_is_leaf(y) && !y->requires_grad);
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){2, 3});
    bool was = ag_set_grad_enabled(false);
    ag_tensor *z = cube_op(A, x, &CUBE);
    ag_set_grad_enabled(was);
    ck_assert(ag_is_leaf(z) && !z->requires_grad);
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(context_carries_numbers_to_backward) {
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){1, 2});
    ag_tensor *y = scaled_op(x, -1.5);
    ck_values(y, 2, ((double[]){-1.5, -3}), 0);
    ck_assert(ag_backward(ag_sum(A, y, 0, NULL, false), NULL));
    ck_values(x->grad, 2, ((double[]){-1.5, -1.5}), 0);
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* x used twice as a source: each entry's contribution adds up.
 * muladd(x, x) = x^2 + x, d/dx = 2x + 1. */
START_TEST(source_given_twice_gets_both_contributions) {
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){3, -1});
    ag_tensor *y = muladd_op(A, x, x, &MULADD);
    ck_values(y, 2, ((double[]){12, 0}), 0);
    ck_assert(ag_backward(ag_sum(A, y, 0, NULL, false), NULL));
    ck_values(x->grad, 2, ((double[]){7, -1}), 0);
}
END_TEST

/* y = cube(x) used twice: out->grad holds both consumers' gradients when
 * cube's backward runs. d/dx (y + 2 y) = 9 x^2. */
START_TEST(output_used_twice_arrives_summed) {
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){1, 2});
    ag_tensor *y = cube_op(A, x, &CUBE);
    ag_tensor *z = ag_add(A, y, ag_mul_scalar(A, y, 2.0));
    ck_assert(ag_backward(ag_sum(A, z, 0, NULL, false), NULL));
    ck_values(x->grad, 2, ((double[]){9, 36}), 0);
    ck_assert_int_eq(cube_backward_runs, 1);
}
END_TEST

/* ---- gradcheck of custom ops -------------------------------------------------- */

static ag_tensor *f_cube(ag_arena *Ar, ag_tensor *const *in, int n, void *op) {
    (void)n;
    return cube_op(Ar, in[0], op);
}
/* cube(x) + 2 x: x's gradient buffer already holds the 2 x part when cube's
 * backward runs (the nodes run in reverse order of recording), so an
 * overwrite loses it. */
static ag_tensor *f_cube_plus(ag_arena *Ar, ag_tensor *const *in, int n, void *op) {
    (void)n;
    return ag_add_(Ar, cube_op(Ar, in[0], op), ag_mul_scalar_(Ar, in[0], 2.0));
}
static ag_tensor *f_muladd(ag_arena *Ar, ag_tensor *const *in, int n, void *op) {
    (void)n;
    return muladd_op(Ar, in[0], in[1], op);
}
static ag_tensor *f_muladd_self(ag_arena *Ar, ag_tensor *const *in, int n, void *op) {
    (void)n;
    return muladd_op(Ar, in[0], in[0], op);
}

static bool check(ag_gradcheck_fn f, int n, const ag_op *op) {
    ag_rng r;
    ag_rng_seed(&r, 11);
    ag_tensor *in[2];
    for (int i = 0; i < n; i++) {
        in[i] = ag_randn(A, &r, AG_F64, AG_SHAPE(2, 3), 0.0, 1.0);
        ag_set_requires_grad(in[i], true);
    }
    ag_gradcheck_result res;
    const bool ok = ag_gradcheck(f, n, in, (void *)op, NULL, &res);
    ck_assert_int_eq(ok, res.pass);
    return ok;
}

START_TEST(gradcheck_passes_right_backwards) {
    ck_assert(check(f_cube, 1, &CUBE));
    ck_assert(check(f_cube_plus, 1, &CUBE));
    ck_assert(check(f_muladd, 2, &MULADD));
    ck_assert(check(f_muladd_self, 1, &MULADD));
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(gradcheck_fails_wrong_backwards) {
    ck_assert(!check(f_cube, 1, &CUBE_WRONG));
    ck_assert(!check(f_cube_plus, 1, &CUBE_WRONG));
    /* overwriting is only wrong once something else wrote the buffer */
    ck_assert(check(f_cube, 1, &CUBE_OVERWRITE));
    ck_assert(!check(f_cube_plus, 1, &CUBE_OVERWRITE));
    ck_assert(check(f_muladd, 2, &MULADD_OVERWRITE));
    ck_assert(!check(f_muladd_self, 1, &MULADD_OVERWRITE));
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* ---- bad use ------------------------------------------------------------------ */

START_TEST(null_propagates_without_a_report) {
    ag_set_error_handler(count_reports, &reports);
    ck_assert_ptr_null(cube_op(A, NULL, &CUBE));
    ck_assert_ptr_null(ag_op_ctx(NULL));
    ck_assert_ptr_null(ag_grad_accum_buf(NULL));
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){1, 2});
    ag_tensor *y = ag_op_result(A, "cube", AG_F64, AG_SHAPE(2));
    ck_assert_ptr_null(ag_op_record(y, &CUBE, 2, (ag_tensor *[]){x, NULL}));
    ck_assert_ptr_null(ag_op_record(NULL, &CUBE, 1, (ag_tensor *[]){x}));
    ck_assert_int_eq(reports, 0);
    /* a constant needs no gradient buffer */
    ag_tensor *c = ag_zeros(A, AG_F64, AG_SHAPE(2));
    ck_assert_ptr_null(ag_grad_accum_buf(c));
    ck_assert_ptr_null(c->grad);
}
END_TEST

START_TEST(record_refuses_what_is_not_a_fresh_result) {
    ag_set_error_handler(count_reports, &reports);
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){1, 2});
    ag_tensor *plain = ag_zeros(A, AG_F64, AG_SHAPE(2));
    ck_assert_ptr_null(ag_op_record(plain, &CUBE, 1, (ag_tensor *[]){x}));
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "was not made by ag_op_result"));
    ag_tensor *y = cube_op(A, x, &CUBE);
    ck_assert_ptr_null(ag_op_record(y, &CUBE, 1, (ag_tensor *[]){x}));
    ck_assert_int_eq(reports, 2);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "already recorded"));
    ck_assert_ptr_null(ag_op_ctx(plain));
    ck_assert_int_eq(reports, 3);
}
END_TEST

/* ag_op_load / ag_op_store / ag_op_accum in each float dtype. bf16 holds 8
 * significant bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 and rounds
 * to the even one, 1; 1 + 3 2^-9 rounds up. */
START_TEST(element_access_for_kernels) {
    ag_tensor *f = ag_from_f64(A, AG_F32, AG_SHAPE(2), (const double[]){1.5, -2});
    ck_assert(ag_op_load(f, 1) == -2.0);
    ag_op_store(f, 0, 0.1);
    ck_assert(ag_op_load(f, 0) == (double)0.1f);
    ag_op_accum(f, 1, 0.25);
    ck_assert(ag_op_load(f, 1) == -1.75);
    ag_tensor *h = ag_zeros(A, AG_BF16, AG_SHAPE(2));
    ag_op_store(h, 0, 1.00390625);
    ck_assert(ag_op_load(h, 0) == 1.0);
    ag_op_store(h, 0, 1.005859375); /* 1 + 3 2^-9: nearer 1 + 2^-7 than 1 */
    ck_assert(ag_op_load(h, 0) == 1.0078125);
    ag_op_store(h, 1, 3.0);
    ag_op_accum(h, 1, 0.5);
    ck_assert(ag_op_load(h, 1) == 3.5);
    ck_assert_int_eq(((const uint16_t *)h->data)[1], 0x4060); /* 3.5 = 0x40600000 */
    ag_tensor *d = ag_from_f64(A, AG_F64, AG_SHAPE(1), (const double[]){0.1});
    ag_op_accum(d, 0, 0.2);
    ck_assert(ag_op_load(d, 0) == 0.1 + 0.2);
}
END_TEST

/* ag_op_desc: dtype and shape as reports write them, two in one call kept
 * apart (no shared buffer). */
START_TEST(desc_names_dtype_and_shape) {
    ck_assert_str_eq(ag_op_desc(ag_zeros(A, AG_F32, AG_SHAPE(3, 5))).s, "f32 [3,5]");
    ck_assert_str_eq(ag_op_desc(ag_scalar(A, AG_F64, 2.0)).s, "f64 []");
    ck_assert_str_eq(ag_op_desc(ag_zeros(A, AG_BF16, AG_SHAPE(1, 0, 4))).s, "bf16 [1,0,4]");
    ck_assert_str_eq(ag_op_desc(NULL).s, "(null)");
    char line[2 * sizeof(ag_op_desc_str) + 8];
    snprintf(line, sizeof line, "%s | %s", ag_op_desc(ag_zeros(A, AG_I32, AG_SHAPE(2))).s,
             ag_op_desc(ag_zeros(A, AG_F64, AG_SHAPE(7, 1))).s);
    ck_assert_str_eq(line, "i32 [2] | f64 [7,1]");
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* ---- the short form: a vjp of ag ops, ag_op_apply, ag_op_save --------------- */

/* l2scale(x, w) = w * x * r, r = 1 / sqrt(sum(x^2) + 1) over the last dim
 * (w broadcasts against x). Its vjp, with gw = g w and dot = sum(gw x):
 *   dx = r (gw - r^2 x dot),  dw = r x g  (the engine sums it to w's shape).
 * r is saved recorded (made with recording on) so that the vjp's use of it
 * is differentiable; the broken variant saves it made with recording off,
 * a constant to the second derivative, which gradgradcheck must catch. */
static bool l2scale_vjp(ag_tensor *y, ag_tensor *g, ag_tensor **grads) {
    ag_arena *Ar = y->arena;
    ag_tensor *x = y->src[0], *w = y->src[1], *r = ag_op_ctx(y)->saved[0];
    ag_tensor *gw = ag_mul(Ar, g, w);
    ag_tensor *dot = ag_sum(Ar, ag_mul(Ar, gw, x), AG_DIMS(-1), true);
    grads[0] = ag_mul(Ar, r, ag_sub(Ar, gw, ag_mul(Ar, ag_mul(Ar, ag_mul(Ar, r, r), x), dot)));
    grads[1] = ag_mul(Ar, ag_mul(Ar, r, x), g);
    return true;
}
static const ag_op L2SCALE = {.name = "l2scale", .vjp = l2scale_vjp};

static ag_tensor *l2scale_as(ag_arena *Ar, ag_tensor *x, ag_tensor *w, bool r_recorded) {
    ag_tensor *r = NULL, *y = NULL;
    AG_GRAD_MODE(r_recorded && ag_grad_enabled()) {
        r = ag_rsqrt(Ar, ag_add_scalar(Ar, ag_sum(Ar, ag_mul(Ar, x, x), AG_DIMS(-1), true), 1.0));
    }
    AG_NO_GRAD y = ag_mul(Ar, ag_mul(Ar, w, x), r);
    return ag_op_save(ag_op_apply(Ar, &L2SCALE, y, 2, (ag_tensor *[]){x, w}), 1, &r);
}
static ag_tensor *f_l2scale(ag_arena *Ar, ag_tensor *const *in, int n, void *recorded) {
    (void)n;
    return l2scale_as(Ar, in[0], in[1], recorded != NULL);
}

/* cube through a vjp (no kernel): 3 x^2 g, whose own gradient is 6 x g. */
static bool vcube_vjp(ag_tensor *y, ag_tensor *g, ag_tensor **grads) {
    ag_tensor *x = y->src[0];
    grads[0] = ag_mul(y->arena, g, ag_mul_scalar(y->arena, ag_mul(y->arena, x, x), 3.0));
    return true;
}
static const ag_op VCUBE = {.name = "vcube", .vjp = vcube_vjp};
static ag_tensor *vcube(ag_arena *Ar, ag_tensor *x) {
    ag_tensor *y = NULL;
    AG_NO_GRAD y = ag_mul(Ar, x, ag_mul(Ar, x, x));
    return ag_op_apply(Ar, &VCUBE, y, 1, (ag_tensor *[]){x});
}

/* Values, first and second derivatives by hand at x = (1, -2, 0.5):
 * y = x^3; d sum(y)/dx = 3 x^2; d/dx of sum(3 x^2 v) = 6 x v, v = (1, 2, 3). */
START_TEST(vjp_op_differentiates_twice_by_hand) {
    const double xs[] = {1, -2, 0.5}, v[] = {1, 2, 3};
    ag_tensor *x = leaf(AG_SHAPE(3), xs);
    ag_tensor *y = vcube(A, x);
    ck_assert_ptr_eq(y->op, &VCUBE);
    ck_assert(y->requires_grad);
    ag_tensor *g1 = NULL, *g2 = NULL;
    ag_tensor *ones = ag_ones(A, AG_F64, AG_SHAPE(3));
    ck_assert(ag_grad(1, &y, &ones, 1, &x, &g1, true));
    ag_tensor *vt = ag_from_f64(A, AG_F64, AG_SHAPE(3), v);
    ag_tensor *s = ag_sum(A, ag_mul(A, g1, vt), 0, NULL, false);
    ck_assert(ag_grad(1, &s, NULL, 1, &x, &g2, false));
    for (int i = 0; i < 3; i++) {
        ck_assert(ag_get_flat(y, i) == xs[i] * xs[i] * xs[i]);
        ck_assert_double_eq_tol(ag_get_flat(g1, i), 3 * xs[i] * xs[i], 1e-12);
        ck_assert_double_eq_tol(ag_get_flat(g2, i), 6 * xs[i] * v[i], 1e-12);
    }
    /* a plain backward runs the vjp with recording off */
    ck_assert(ag_backward(ag_sum(A, vcube(A, x), 0, NULL, false), NULL));
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq_tol(ag_get_flat(x->grad, i), 3 * xs[i] * xs[i], 1e-12);
    ck_assert_int_eq(reports, 0);
}
END_TEST

static bool check_l2scale(bool second, bool r_recorded) {
    ag_rng r;
    ag_rng_seed(&r, 3);
    ag_tensor *in[2] = {ag_randn(A, &r, AG_F64, AG_SHAPE(2, 4), 0.0, 1.0),
                        ag_randn(A, &r, AG_F64, AG_SHAPE(4), 0.0, 1.0)};
    ag_set_requires_grad(in[0], true);
    ag_set_requires_grad(in[1], true);
    void *ud = r_recorded ? (void *)&L2SCALE : NULL;
    ag_gradcheck_result res;
    return second ? ag_gradgradcheck(f_l2scale, 2, in, ud, NULL, &res)
                  : ag_gradcheck(f_l2scale, 2, in, ud, NULL, &res);
}

/* gradcheck and gradgradcheck pass through a vjp op with a broadcast source
 * and a saved tensor; a saved tensor made with recording off passes the
 * first check and fails the second. */
START_TEST(vjp_op_passes_gradcheck_and_gradgradcheck) {
    ck_assert(check_l2scale(false, true));
    ck_assert(check_l2scale(true, true));
    ck_assert(check_l2scale(false, false));
    ck_assert(!check_l2scale(true, false));
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* What ag_op_apply makes: a new tensor on value's data with a context, a
 * leaf when recording is off, an input itself accepted as the value. */
START_TEST(apply_makes_a_recorded_view_with_a_context) {
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){1, 2});
    ag_tensor *value = ag_mul_scalar(A, x, 2.0);
    ag_tensor *y = ag_op_apply(A, &VCUBE, value, 1, (ag_tensor *[]){x});
    ck_assert_ptr_ne(y, value);
    ck_assert_ptr_eq(y->data, value->data);
    ck_assert_ptr_eq(y->op, &VCUBE);
    ck_assert_ptr_eq(y->src[0], x);
    ck_assert_ptr_nonnull(ag_op_ctx(y));
    ck_assert_ptr_eq(ag_op_save(y, 2, (ag_tensor *[]){x, value}), y);
    ck_assert_ptr_eq(ag_op_ctx(y)->saved[1], value);
    ag_tensor *same = ag_op_apply(A, &VCUBE, x, 1, (ag_tensor *[]){x});
    ck_assert_ptr_ne(same, x);
    ck_assert_ptr_eq(same->src[0], x);
    AG_NO_GRAD {
        ag_tensor *off = ag_op_apply(A, &VCUBE, value, 1, (ag_tensor *[]){x});
        ck_assert_ptr_null(off->op);
        ck_assert(!off->requires_grad);
        ck_assert_ptr_nonnull(ag_op_ctx(off));
    }
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(apply_and_save_refuse_bad_calls) {
    ag_set_error_handler(count_reports, &reports);
    ag_tensor *x = leaf(AG_SHAPE(2), (const double[]){1, 2});
    static const ag_op NONE = {.name = "none"};
    ck_assert_ptr_null(ag_op_apply(A, &NONE, x, 1, (ag_tensor *[]){x}));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "no backward and no vjp"));
    ck_assert_ptr_null(ag_op_apply(A, NULL, x, 1, (ag_tensor *[]){x}));
    ck_assert_ptr_null(ag_op_apply(A, &VCUBE, x, AG_OP_MAX_SRCS + 1, (ag_tensor *[]){x}));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "sources"));
    ck_assert_ptr_null(ag_op_apply(NULL, &VCUBE, x, 1, (ag_tensor *[]){x}));
    ck_assert_int_eq(reports, 4);
    /* NULL value or source: an earlier failure, no report */
    ck_assert_ptr_null(ag_op_apply(A, &VCUBE, NULL, 1, (ag_tensor *[]){x}));
    ck_assert_ptr_null(ag_op_apply(A, &VCUBE, x, 1, (ag_tensor *[]){NULL}));
    ck_assert_ptr_null(ag_op_save(NULL, 1, &x));
    ag_tensor *y = vcube(A, x);
    ck_assert_ptr_null(ag_op_save(y, 1, (ag_tensor *[]){NULL}));
    ck_assert_ptr_null(ag_op_ctx(y)->saved[0]);
    ck_assert_int_eq(reports, 4);
    ck_assert_ptr_null(ag_op_save(y, AG_OP_CTX_TENSORS + 1, (ag_tensor *[]){x}));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "op_save"));
    ck_assert_ptr_null(ag_op_save(x, 1, &x));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "was not made by ag_op_result or ag_op_apply"));
    ck_assert_int_eq(reports, 6);
}
END_TEST

TCase *engine_custom_op_tcase(void) {
    TCase *tc = tcase_create("custom_op");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cube_forward_and_backward_by_hand);
    tcase_add_test(tc, records_nothing_without_a_gradient_to_make);
    tcase_add_test(tc, context_carries_numbers_to_backward);
    tcase_add_test(tc, source_given_twice_gets_both_contributions);
    tcase_add_test(tc, output_used_twice_arrives_summed);
    tcase_add_test(tc, gradcheck_passes_right_backwards);
    tcase_add_test(tc, gradcheck_fails_wrong_backwards);
    tcase_add_test(tc, null_propagates_without_a_report);
    tcase_add_test(tc, record_refuses_what_is_not_a_fresh_result);
    tcase_add_test(tc, element_access_for_kernels);
    tcase_add_test(tc, desc_names_dtype_and_shape);
    tcase_add_test(tc, vjp_op_differentiates_twice_by_hand);
    tcase_add_test(tc, vjp_op_passes_gradcheck_and_gradgradcheck);
    tcase_add_test(tc, apply_makes_a_recorded_view_with_a_context);
    tcase_add_test(tc, apply_and_save_refuse_bad_calls);
    return tc;
}
