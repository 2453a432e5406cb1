/* core/ops_unary.c — elementwise functions of one tensor: neg, exp, log, sqrt,
 * rsqrt, pow (scalar exponent), abs, square, tanh, sigmoid, relu, gelu (erf
 * and tanh forms), silu, sin, cos, log1p, expm1, erf, softplus, leaky_relu,
 * elu, clamp and log_sigmoid; and the elementwise terms of smooth_l1_loss and
 * huber_loss (functions of the difference d = input - target).
 *
 * One table lists every op: its name, its forward y = f(x), and its
 * derivative dy/dx written in terms of x, the saved output y, and up to two
 * scalar parameters p and q (pow's exponent; softplus's beta and threshold;
 * leaky_relu's slope; elu's alpha; clamp's bounds). One forward kernel and
 * one backward kernel expand the table, so adding an op is one line.
 * Backward computes dx += g * dy/dx.
 *
 * exp, tanh, erf and the functions built on them (sigmoid, SiLU, GELU in
 * both forms, the normal CDF and density) take core/vmath.h's vectorizable
 * forms in f32, forward and derivatives, whose maximum errors in ulps are
 * stated there (the sigmoid in softplus's and log_sigmoid's derivatives
 * too); f64 stays on libm. The other ops call libm in both (tgmath: expf
 * for a float).
 */
#include "internal.h"
#include "vmath.h"

#define SQRT1_2 0.70710678118654752440      /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define INV_SQRT_PI 0.56418958354775628695  /* 1/sqrt(pi) */
#define SQRT_2_OVER_PI 0.79788456080286535588 /* sqrt(2/pi) */
#define GELU_A 0.044715                     /* the cubic coefficient of the tanh GELU */

/* In the table, x and y have the kernel's type T (float or double) and
 * C(v) makes a constant of that type, so f32 stays in float arithmetic. */
#define C(v) ((T)(v))

/* f(v) by v's type: f32 through core/vmath.h, f64 through the double form. */
#define BY_TYPE(v, f32_form, f64_form) _Generic((v), float: f32_form, default: f64_form)(v)

/* The double forms (libm). The logistic function never takes exp of a
 * large positive number. */
static inline double sigmoid_f64(double x) {
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}
static inline double silu_f64(double x) { return x * sigmoid_f64(x); }
/* The standard normal CDF and density; GELU is x Phi(x). */
static inline double phi_f64(double x) { return 0.5 * (1 + erf(x * SQRT1_2)); }
static inline double pdf_f64(double x) { return INV_SQRT_2PI * exp(-0.5 * x * x); }
static inline double gelu_f64(double x) { return x * phi_f64(x); }
/* d/dx erf(x) = 2/sqrt(pi) exp(-x^2) */
static inline double erf_grad_f64(double x) { return 2 * INV_SQRT_PI * exp(-x * x); }
static inline float erf_grad_f32(float x) {
    return (float)(2 * INV_SQRT_PI) * ag__exp_neg_sqf(x, 1.0f);
}

#define EXP_OF(x) BY_TYPE(x, ag__expf, exp)
#define TANH_OF(x) BY_TYPE(x, ag__tanhf, tanh)
#define ERF_OF(x) BY_TYPE(x, ag__erff, erf)
#define SIGMOID_OF(x) BY_TYPE(x, ag__sigmoidf, sigmoid_f64)
#define SILU_OF(x) BY_TYPE(x, ag__siluf, silu_f64)
#define PHI_OF(x) BY_TYPE(x, ag__normcdff, phi_f64)
#define PDF_OF(x) BY_TYPE(x, ag__normpdff, pdf_f64)
#define GELU_OF(x) BY_TYPE(x, ag__geluf, gelu_f64)
#define ERF_GRAD(x) BY_TYPE(x, erf_grad_f32, erf_grad_f64)

/* tanh GELU: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + a x^3);
 * dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3a x^2). */
#define TANH_U(x) TANH_OF(C(SQRT_2_OVER_PI) * ((x) + C(GELU_A) * (x) * (x) * (x)))
#define GELU_TANH_GRAD(x)                                                               \
    (C(0.5) * (1 + TANH_U(x)) + C(0.5) * (x) * (1 - TANH_U(x) * TANH_U(x)) *            \
                                     C(SQRT_2_OVER_PI) * (1 + C(3 * GELU_A) * (x) * (x)))

/* d2/dx2 of the tanh GELU: with t = tanh u, u' = sqrt(2/pi) (1 + 3a x^2) and
 * u'' = 6a sqrt(2/pi) x:  (1 - t^2) (u' - x t u'^2 + x u''/2). */
#define TANH_DU(x) (C(SQRT_2_OVER_PI) * (1 + C(3 * GELU_A) * (x) * (x)))
#define GELU_TANH_GRAD2(x)                                                              \
    ((1 - TANH_U(x) * TANH_U(x)) *                                                      \
     (TANH_DU(x) - (x) * TANH_U(x) * TANH_DU(x) * TANH_DU(x) +                          \
      (x) * C(3 * GELU_A * SQRT_2_OVER_PI) * (x)))
/* d2/dx2 of x sigmoid(x): s (1 - s) (2 + x (1 - 2 s)). */
#define SILU_GRAD2(x)                                                                   \
    (SIGMOID_OF(x) * (1 - SIGMOID_OF(x)) * (2 + (x) * (1 - 2 * SIGMOID_OF(x))))

/* x^p; the square (x^2 in an RMSNorm written by hand) as a product: the
 * loop then vectorizes (the compiler unswitches p == 2 out of it). */
#define POW_OF(x, p) ((p) == 2 ? (x) * (x) : pow(x, p))
#define POW_GRAD(x, p) ((p) == 2 ? 2 * (x) : (p) == 0 ? 0 : (p) * pow(x, (p) - 1))
#define POW_GRAD2(x, p)                                                                 \
    ((p) == 2 ? 2 : (p) == 0 || (p) == 1 ? 0 : (p) * ((p) - 1) * pow(x, (p) - 2))

/* softplus with beta p and threshold q (PyTorch): linear where p x > q. */
#define SOFTPLUS_OF(x, p, q) ((p) * (x) > (q) ? (x) : log1p(exp((p) * (x))) / (p))
#define SOFTPLUS_GRAD(x, p, q) ((p) * (x) > (q) ? 1 : SIGMOID_OF((p) * (x)))
#define SOFTPLUS_GRAD2(x, p, q)                                                         \
    ((p) * (x) > (q) ? 0 : (p) * SIGMOID_OF((p) * (x)) * (1 - SIGMOID_OF((p) * (x))))
/* clamp to [p, q]; a NaN x stays NaN; p > q gives q everywhere (PyTorch).
 * The gradient passes where p <= x <= q, bounds included (PyTorch's
 * clamp_backward), so 0 everywhere when p > q. */
#define CLAMP_OF(x, p, q) ((x) < (p) ? ((p) > (q) ? (q) : (p)) : (x) > (q) ? (q) : (x))

/* Each row: the kind, the name, the forward y = f(x) on the first line; the
 * derivative dy/dx and the second derivative d2y/dx2 on the second (a
 * backward with create_graph differentiates the first through the second). */
#define UNARY_OPS(X)                                                                     \
    X(NEG, "neg", -x,                                                                     \
      -1, 0)                                                                             \
    X(EXP, "exp", EXP_OF(x),                                                             \
      y, y)                                                                              \
    X(LOG, "log", log(x),                                                                \
      1 / x, -1 / (x * x))                                                               \
    X(SQRT, "sqrt", sqrt(x),                                                             \
      C(0.5) / y, C(-0.25) / (y * y * y))                                                \
    X(RSQRT, "rsqrt", 1 / sqrt(x),                                                       \
      C(-0.5) * y * y * y, C(0.75) * y * y * y * y * y)                                  \
    X(POW, "pow", POW_OF(x, p),                                                          \
      POW_GRAD(x, p), POW_GRAD2(x, p))                                                   \
    X(ABS, "abs", fabs(x),                                                               \
      (x > 0) - (x < 0), 0)                                                              \
    X(SQUARE, "square", x * x,                                                           \
      2 * x, 2)                                                                          \
    X(TANH, "tanh", TANH_OF(x),                                                          \
      1 - y * y, -2 * y * (1 - y * y))                                                   \
    X(SIGMOID, "sigmoid", SIGMOID_OF(x),                                                 \
      y * (1 - y), y * (1 - y) * (1 - 2 * y))                                            \
    X(RELU, "relu", x > 0 || isnan(x) ? x : 0,                                           \
      x > 0, 0)                                                                          \
    X(GELU, "gelu", GELU_OF(x),                                                          \
      PHI_OF(x) + x * PDF_OF(x), PDF_OF(x) * (2 - x * x))                                \
    X(GELU_TANH, "gelu_tanh", C(0.5) * x * (1 + TANH_U(x)),                              \
      GELU_TANH_GRAD(x), GELU_TANH_GRAD2(x))                                             \
    X(SILU, "silu", SILU_OF(x),                                                          \
      SIGMOID_OF(x) * (1 + x * (1 - SIGMOID_OF(x))), SILU_GRAD2(x))                      \
    X(SIN, "sin", sin(x),                                                                \
      cos(x), -sin(x))                                                                   \
    X(COS, "cos", cos(x),                                                                \
      -sin(x), -cos(x))                                                                  \
    X(LOG1P, "log1p", log1p(x),                                                          \
      1 / (1 + x), -1 / ((1 + x) * (1 + x)))                                             \
    X(EXPM1, "expm1", expm1(x),                                                          \
      y + 1, y + 1)                                                                      \
    X(ERF, "erf", ERF_OF(x),                                                             \
      ERF_GRAD(x), -2 * x * ERF_GRAD(x))                                                 \
    X(SOFTPLUS, "softplus", SOFTPLUS_OF(x, p, q),                                        \
      SOFTPLUS_GRAD(x, p, q), SOFTPLUS_GRAD2(x, p, q))                                   \
    X(LEAKY_RELU, "leaky_relu", x > 0 ? x : p * x,                                       \
      x > 0 ? 1 : p, 0)                                                                  \
    X(ELU, "elu", x > 0 ? x : p * expm1(x),                                              \
      x > 0 ? 1 : p * exp(x), x > 0 ? 0 : p * exp(x))                                    \
    X(CLAMP, "clamp", CLAMP_OF(x, p, q),                                                 \
      x >= p && x <= q, 0)                                                               \
    X(LOG_SIGMOID, "log_sigmoid", (x < 0 ? x : 0) - log1p(exp(-fabs(x))),                \
      SIGMOID_OF(-x), -SIGMOID_OF(x) * SIGMOID_OF(-x))                                   \
    X(SMOOTH_L1, "smooth_l1_loss", fabs(x) < p ? C(0.5) * x * x / p : fabs(x) - C(0.5) * p, \
      x < -p ? -1 : x > p ? 1 : x / p, x < -p || x > p ? 0 : 1 / p)                      \
    X(HUBER, "huber_loss", fabs(x) < p ? C(0.5) * x * x : p * (fabs(x) - C(0.5) * p),    \
      x < -p ? -p : x > p ? p : x, x < -p || x > p ? 0 : 1)

#define AS_ENUM(K, NAME, F, D, D2) K,
typedef enum { UNARY_OPS(AS_ENUM) NKINDS } kind;

static void backward(ag_tensor *out);
static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);
static void derivative_backward(ag_tensor *z);

#define AS_OP(K, NAME, F, D, D2) [K] = {NAME, backward, vjp},
static const ag_op OPS[] = {UNARY_OPS(AS_OP)};
_Static_assert(sizeof OPS / sizeof OPS[0] == NKINDS, "one op per kind");
/* z = g f'(x), the product a recorded backward makes: differentiable once
 * more (by the table's second derivative), not twice. */
#define AS_DERIVATIVE_OP(K, NAME, F, D, D2) [K] = {NAME "_backward", derivative_backward, NULL},
static const ag_op DERIVATIVE_OPS[] = {UNARY_OPS(AS_DERIVATIVE_OP)};

/* A kernel's operands: the op (kind, its scalar parameters p and q) and
 * dtype; forward reads x and writes y; the derivative passes read x, y and g
 * (and gz, SECOND's only) and write d and dg. */
typedef struct unary_job {
    kind k;
    ag_dtype dt;
    double p, q;
    const void *x, *y, *g, *gz;
    void *out, *d, *dg;
} unary_job;

/* y[i] = f(x[i]) for i in [lo, hi); x and y: same shape, f32 or f64. */
#define FORWARD_CASE(K, NAME, F, D, D2)                             \
    case K:                                                         \
        for (int64_t i = lo; i < hi; i++) {                         \
            const T x = px[i];                                      \
            py[i] = (T)(F);                                         \
        }                                                           \
        break;

static void forward_range(const void *ctx, int64_t lo, int64_t hi) {
    const unary_job *j = ctx;
    AG_DISPATCH(j->dt, T, {
        const T *px = j->x;
        T *py = j->out;
        const T p = (T)j->p, q = (T)j->q;
        (void)p, (void)q;
        switch (j->k) {
            UNARY_OPS(FORWARD_CASE)
        case NKINDS: break;
        }
    });
}

static void forward(kind k, double p, double q, const ag_tensor *in, ag_tensor *out) {
    unary_job j = {.k = k, .dt = in->dtype, .p = p, .q = q, .x = in->data, .out = out->data};
    ag__parallel_for(in->numel, in->numel >= AG_PAR_MIN, forward_range, &j);
}

/* GELU's forward when a backward will follow: y = x Phi(x) and, in the same
 * pass, d = f'(x) = Phi(x) + x pdf(x), kept for backward. The erf tail that
 * both evaluate (a polynomial and an exp, in core/vmath.h) is then
 * computed once per element where forward and backward computed it once
 * each (in f32 by ag__gelu_and_derivf, which shares it by hand); backward
 * becomes dx = g d. The values are those of the table's formulas, bit for
 * bit. */
static void gelu_with_derivative_range(const void *ctx, int64_t lo, int64_t hi) {
    const unary_job *j = ctx;
    if (j->dt == AG_F32) {
        const float *px = j->x;
        float *py = j->out, *pd = j->d;
        for (int64_t i = lo; i < hi; i++) {
            const ag__gelu_pair r = ag__gelu_and_derivf(px[i]);
            py[i] = r.y;
            pd[i] = r.dy;
        }
        return;
    }
    const double *px = j->x;
    double *py = j->out, *pd = j->d;
    for (int64_t i = lo; i < hi; i++) {
        const double x = px[i];
        py[i] = GELU_OF(x);
        pd[i] = PHI_OF(x) + x * PDF_OF(x);
    }
}

/* One pass over x, the op's output y and a gradient g, for the three
 * products the table's derivatives make (in SECOND, d or dg NULL skips its
 * product):
 *   BACKWARD  dx[i] += g[i] f'(x[i])                       (the op's backward)
 *   PRODUCT   z[i]   = g[i] f'(x[i])                       (its recorded form, and the
 *                                                          backward into a fresh dx)
 *   SECOND    dx[i] += gz[i] g[i] f''(x[i]), dg[i] += gz[i] f'(x[i])  (z's backward) */
typedef enum { BACKWARD, PRODUCT, SECOND } pass;

/* BACKWARD and PRODUCT, the passes a training step runs, have loops of their
 * own: a loop without branches is one the compiler vectorizes (the branches
 * below are loop-invariant, but unswitching gives up on the larger
 * derivatives). */
#define DERIVATIVE_CASE(K, NAME, F, D, D2)                          \
    case K:                                                         \
        if (ps == BACKWARD) {                                       \
            for (int64_t i = lo; i < hi; i++) {                     \
                const T x = px[i], y = py[i];                       \
                (void)x, (void)y;                                   \
                pd[i] += pg[i] * (T)(D);                            \
            }                                                       \
            break;                                                  \
        }                                                           \
        if (ps == PRODUCT) {                                        \
            for (int64_t i = lo; i < hi; i++) {                     \
                const T x = px[i], y = py[i];                       \
                (void)x, (void)y;                                   \
                pd[i] = pg[i] * (T)(D);                             \
            }                                                       \
            break;                                                  \
        }                                                           \
        for (int64_t i = lo; i < hi; i++) {                         \
            const T x = px[i], y = py[i];                           \
            (void)x, (void)y;                                       \
            {                                                       \
                if (pd) pd[i] += pgz[i] * pg[i] * (T)(D2);          \
                if (pdg) pdg[i] += pgz[i] * (T)(D);                 \
            }                                                       \
        }                                                           \
        break;

typedef struct derivative_job {
    pass ps;
    unary_job u;
} derivative_job;

static void derivative_range(const void *ctx, int64_t lo, int64_t hi) {
    const derivative_job *j = ctx;
    const pass ps = j->ps;
    AG_DISPATCH(j->u.dt, T, {
        const T *px = j->u.x, *py = j->u.y, *pg = j->u.g, *pgz = j->u.gz;
        T *pd = j->u.d, *pdg = j->u.dg;
        const T p = (T)j->u.p, q = (T)j->u.q;
        (void)p, (void)q, (void)pgz, (void)pdg;
        switch (j->u.k) {
            UNARY_OPS(DERIVATIVE_CASE)
        case NKINDS: break;
        }
    });
}

/* y is the op's output (its iparam and fparam say which op); gz and dg are
 * SECOND's only. */
static void derivatives(pass ps, const ag_tensor *x, const ag_tensor *y, const ag_tensor *g,
                        ag_tensor *d, const ag_tensor *gz, ag_tensor *dg) {
    derivative_job j = {ps, {.k = (kind)y->iparam[0], .dt = y->dtype, .p = y->fparam[0],
                             .q = y->fparam[1], .x = x->data, .y = y->data, .g = g->data,
                             .gz = gz ? gz->data : NULL, .d = d ? d->data : NULL,
                             .dg = dg ? dg->data : NULL}};
    ag__parallel_for(y->numel, y->numel >= AG_PAR_MIN, derivative_range, &j);
}

/* dx = g d, or dx += g d (add), with d the derivative forward kept. */
typedef struct product_job {
    ag_dtype dt;
    const void *g, *d;
    void *dx;
    bool add;
} product_job;

static void product_range(const void *ctx, int64_t lo, int64_t hi) {
    const product_job *j = ctx;
    AG_DISPATCH(j->dt, T, {
        const T *pg = j->g, *pd = j->d;
        T *px = j->dx;
        if (j->add)
            for (int64_t i = lo; i < hi; i++) px[i] += pg[i] * pd[i];
        else
            for (int64_t i = lo; i < hi; i++) px[i] = pg[i] * pd[i];
    });
}

static void saved_product(ag_tensor *dx, const ag_tensor *g, const ag_tensor *d, bool add) {
    const product_job j = {dx->dtype, g->data, d->data, dx->data, add};
    ag__parallel_for(dx->numel, dx->numel >= AG_PAR_MIN, product_range, &j);
}

/* Into x's first gradient the product is stored (no zeroing pass, no read of
 * the old values); into one that exists, added. */
static void backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    const bool fresh = !x->grad;
    ag_tensor *gin = ag__grad_buf_raw(x);
    if (!gin) return;
    if (out->saved) /* f'(x) kept by forward (GELU) */
        saved_product(gin, out->grad, out->saved, !fresh);
    else
        derivatives(fresh ? PRODUCT : BACKWARD, x, out, out->grad, gin, NULL, NULL);
}

/* The recorded backward: grads[0] = g f'(x) as an op of x and g (out saved). */
static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    const kind k = (kind)out->iparam[0];
    ag_tensor *x = out->src[0];
    ag_tensor *z = ag__result(DERIVATIVE_OPS[k].name, out->arena, out->dtype, out->ndim,
                              out->shape);
    if (!z) return false;
    derivatives(PRODUCT, x, out, g, z, NULL, NULL);
    z->saved = out;
    grads[0] = ag__record(z, &DERIVATIVE_OPS[k], 2, (ag_tensor *[]){x, g});
    return grads[0] != NULL;
}

static void derivative_backward(ag_tensor *z) {
    ag_tensor *x = z->src[0], *g = z->src[1];
    ag_tensor *dx = ag__grad_buf(x), *dg = ag__grad_buf(g);
    if (dx || dg) derivatives(SECOND, x, z->saved, g, dx, z->grad, dg);
}

/* The constructor shared by every unary op: bf16 computes in f32 and is
 * rounded back (both casts recorded). */
static ag_tensor *unary(kind k, ag_arena *A, ag_tensor *x, double p, double q) {
    if (!x) return NULL;
    if (!ag__check_arena(OPS[k].name, A) || !ag__check_float(OPS[k].name, x)) return NULL;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct);
    ag_tensor *y = xc ? ag__result(OPS[k].name, A, ct, xc->ndim, xc->shape) : NULL;
    if (!y) return NULL;
    if (k == GELU && xc->requires_grad && ag_grad_enabled()) {
        ag_tensor *d = ag__result(OPS[k].name, A, ct, xc->ndim, xc->shape);
        if (!d) return NULL;
        const unary_job j = {.k = k, .dt = ct, .x = xc->data, .out = y->data, .d = d->data};
        ag__parallel_for(xc->numel, xc->numel >= AG_PAR_MIN, gelu_with_derivative_range, &j);
        y->saved = d;
    } else {
        forward(k, p, q, xc, y);
    }
    y->iparam[0] = k;
    y->fparam[0] = p;
    y->fparam[1] = q;
    if (!ag__record(y, &OPS[k], 1, &xc)) return NULL;
    return ag__as(A, y, x->dtype);
}

ag_tensor *ag_neg_(ag_arena *A, ag_tensor *x) { return unary(NEG, A, x, 0, 0); }
ag_tensor *ag_exp_(ag_arena *A, ag_tensor *x) { return unary(EXP, A, x, 0, 0); }
ag_tensor *ag_log_(ag_arena *A, ag_tensor *x) { return unary(LOG, A, x, 0, 0); }
ag_tensor *ag_sqrt_(ag_arena *A, ag_tensor *x) { return unary(SQRT, A, x, 0, 0); }
ag_tensor *ag_rsqrt_(ag_arena *A, ag_tensor *x) { return unary(RSQRT, A, x, 0, 0); }
/* x^p; the gradient is p x^(p-1), and 0 when p is 0 (PyTorch). */
ag_tensor *ag_pow_(ag_arena *A, ag_tensor *x, double p) { return unary(POW, A, x, p, 0); }
ag_tensor *ag_abs_(ag_arena *A, ag_tensor *x) { return unary(ABS, A, x, 0, 0); }
ag_tensor *ag_square_(ag_arena *A, ag_tensor *x) { return unary(SQUARE, A, x, 0, 0); }
ag_tensor *ag_tanh_(ag_arena *A, ag_tensor *x) { return unary(TANH, A, x, 0, 0); }
ag_tensor *ag_sigmoid_(ag_arena *A, ag_tensor *x) { return unary(SIGMOID, A, x, 0, 0); }
ag_tensor *ag_relu_(ag_arena *A, ag_tensor *x) { return unary(RELU, A, x, 0, 0); }
ag_tensor *ag_gelu_(ag_arena *A, ag_tensor *x) { return unary(GELU, A, x, 0, 0); }
ag_tensor *ag_gelu_tanh_(ag_arena *A, ag_tensor *x) { return unary(GELU_TANH, A, x, 0, 0); }
ag_tensor *ag_silu_(ag_arena *A, ag_tensor *x) { return unary(SILU, A, x, 0, 0); }
ag_tensor *ag_sin_(ag_arena *A, ag_tensor *x) { return unary(SIN, A, x, 0, 0); }
ag_tensor *ag_cos_(ag_arena *A, ag_tensor *x) { return unary(COS, A, x, 0, 0); }
ag_tensor *ag_log1p_(ag_arena *A, ag_tensor *x) { return unary(LOG1P, A, x, 0, 0); }
ag_tensor *ag_expm1_(ag_arena *A, ag_tensor *x) { return unary(EXPM1, A, x, 0, 0); }
ag_tensor *ag_erf_(ag_arena *A, ag_tensor *x) { return unary(ERF, A, x, 0, 0); }

ag_tensor *ag_log_sigmoid_(ag_arena *A, ag_tensor *x) { return unary(LOG_SIGMOID, A, x, 0, 0); }
/* The callers (core/ops_loss_pointwise.c) have checked beta > 0, delta > 0. */
ag_tensor *ag__smooth_l1(ag_arena *A, ag_tensor *d, double beta) {
    return unary(SMOOTH_L1, A, d, beta, 0);
}
ag_tensor *ag__huber(ag_arena *A, ag_tensor *d, double delta) {
    return unary(HUBER, A, d, delta, 0);
}

/* The scalar parameters: reports a NaN (what names it), and an infinite one
 * unless inf_ok. */
static bool param_ok(kind k, const char *what, double v, bool inf_ok) {
    if (isnan(v) || (!inf_ok && isinf(v))) {
        ag__fail(OPS[k].name, "%s is %g: expected a %snumber", what, v,
                 inf_ok ? "non-NaN " : "finite ");
        return false;
    }
    return true;
}

ag_tensor *ag_softplus_(ag_arena *A, ag_tensor *x, double beta, double threshold) {
    if (!x) return NULL;
    if (!param_ok(SOFTPLUS, "beta", beta, false) ||
        !param_ok(SOFTPLUS, "threshold", threshold, true))
        return NULL;
    if (beta == 0) {
        ag__fail("softplus", "beta is 0: expected a non-zero number (PyTorch's default is 1)");
        return NULL;
    }
    return unary(SOFTPLUS, A, x, beta, threshold);
}
ag_tensor *ag_leaky_relu_(ag_arena *A, ag_tensor *x, double negative_slope) {
    if (!x || !param_ok(LEAKY_RELU, "negative_slope", negative_slope, false)) return NULL;
    return unary(LEAKY_RELU, A, x, negative_slope, 0);
}
ag_tensor *ag_elu_(ag_arena *A, ag_tensor *x, double alpha) {
    if (!x || !param_ok(ELU, "alpha", alpha, false)) return NULL;
    return unary(ELU, A, x, alpha, 0);
}
ag_tensor *ag_clamp_(ag_arena *A, ag_tensor *x, double min, double max) {
    if (!x || !param_ok(CLAMP, "min", min, true) || !param_ok(CLAMP, "max", max, true))
        return NULL;
    return unary(CLAMP, A, x, min, max);
}
ag_tensor *ag_clamp_min_(ag_arena *A, ag_tensor *x, double min) {
    if (!x || !param_ok(CLAMP, "min", min, true)) return NULL;
    return unary(CLAMP, A, x, min, INFINITY);
}
ag_tensor *ag_clamp_max_(ag_arena *A, ag_tensor *x, double max) {
    if (!x || !param_ok(CLAMP, "max", max, true)) return NULL;
    return unary(CLAMP, A, x, -INFINITY, max);
}
