/* core/ops_unary.c — elementwise functions of one tensor: neg, exp, log, sqrt,
 * rsqrt, pow (scalar exponent), abs, square, tanh, sigmoid, relu, gelu (erf
 * and tanh forms) and silu.
 *
 * One table lists every op: its name, its forward y = f(x), and its
 * derivative dy/dx written in terms of x, the saved output y, and pow's
 * exponent p. One forward kernel and one backward kernel expand the table,
 * so adding an op is one line. Backward computes dx += g * dy/dx.
 */
#include "internal.h"

#define SQRT1_2 0.70710678118654752440      /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define SQRT_2_OVER_PI 0.79788456080286535588 /* sqrt(2/pi) */
#define GELU_A 0.044715                     /* the cubic coefficient of the tanh GELU */

/* In the table, x and y have the kernel's type T (float or double) and
 * C(v) makes a constant of that type, so f32 stays in float arithmetic. */
#define C(v) ((T)(v))
/* Logistic function, stable for large |x| (never exp of a large positive). */
#define SIGMOID_OF(x) ((x) >= 0 ? 1 / (1 + exp(-(x))) : exp(x) / (1 + exp(x)))
/* Standard normal CDF and density. */
#define PHI_OF(x) (C(0.5) * (1 + erf((x) * C(SQRT1_2))))
#define PDF_OF(x) (C(INV_SQRT_2PI) * exp(C(-0.5) * (x) * (x)))
/* tanh GELU: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + a x^3);
 * dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3a x^2). */
#define TANH_U(x) tanh(C(SQRT_2_OVER_PI) * ((x) + C(GELU_A) * (x) * (x) * (x)))
#define GELU_TANH_GRAD(x)                                                               \
    (C(0.5) * (1 + TANH_U(x)) + C(0.5) * (x) * (1 - TANH_U(x) * TANH_U(x)) *            \
                                     C(SQRT_2_OVER_PI) * (1 + C(3 * GELU_A) * (x) * (x)))

/* x^p; the square (x^2 in an RMSNorm written by hand) as a product: the
 * loop then vectorizes (the compiler unswitches p == 2 out of it). */
#define POW_OF(x, p) ((p) == 2 ? (x) * (x) : pow(x, p))
#define POW_GRAD(x, p) ((p) == 2 ? 2 * (x) : (p) == 0 ? 0 : (p) * pow(x, (p) - 1))

/*  kind       name         forward y                          dy/dx */
#define UNARY_OPS(X)                                                                     \
    X(NEG,       "neg",       -x,                                 -1)                    \
    X(EXP,       "exp",       exp(x),                             y)                     \
    X(LOG,       "log",       log(x),                             1 / x)                 \
    X(SQRT,      "sqrt",      sqrt(x),                            C(0.5) / y)            \
    X(RSQRT,     "rsqrt",     1 / sqrt(x),                        C(-0.5) * y * y * y)   \
    X(POW,       "pow",       POW_OF(x, p),                       POW_GRAD(x, p))        \
    X(ABS,       "abs",       fabs(x),                            (x > 0) - (x < 0))     \
    X(SQUARE,    "square",    x * x,                              2 * x)                 \
    X(TANH,      "tanh",      tanh(x),                            1 - y * y)             \
    X(SIGMOID,   "sigmoid",   SIGMOID_OF(x),                      y * (1 - y))           \
    X(RELU,      "relu",      x > 0 || isnan(x) ? x : 0,          x > 0)                 \
    X(GELU,      "gelu",      x * PHI_OF(x),                      PHI_OF(x) + x * PDF_OF(x)) \
    X(GELU_TANH, "gelu_tanh", C(0.5) * x * (1 + TANH_U(x)),       GELU_TANH_GRAD(x))     \
    X(SILU,      "silu",      x * SIGMOID_OF(x),                                         \
      SIGMOID_OF(x) * (1 + x * (1 - SIGMOID_OF(x))))

#define AS_ENUM(K, NAME, F, D) K,
typedef enum { UNARY_OPS(AS_ENUM) NKINDS } kind;

static void backward(ag_tensor *out);

#define AS_OP(K, NAME, F, D) [K] = {NAME, backward},
static const ag_op OPS[] = {UNARY_OPS(AS_OP)};
_Static_assert(sizeof OPS / sizeof OPS[0] == NKINDS, "one op per kind");

/* y[i] = f(x[i]); x and y: same shape, f32 or f64. */
#define FORWARD_CASE(K, NAME, F, D)                                 \
    case K:                                                         \
        AG_OMP_FOR(n >= AG_PAR_MIN)                                 \
        for (int64_t i = 0; i < n; i++) {                           \
            const T x = px[i];                                      \
            py[i] = (T)(F);                                         \
        }                                                           \
        break;

static void forward(kind k, double exponent, const ag_tensor *in, ag_tensor *out) {
    const int64_t n = in->numel;
    AG_DISPATCH(in->dtype, T, {
        const T *px = in->data;
        T *py = out->data;
        const T p = (T)exponent;
        (void)p;
        switch (k) {
            UNARY_OPS(FORWARD_CASE)
        case NKINDS: break;
        }
    });
}

/* dx[i] += g[i] * f'(x[i]); reads x, the saved output y and g. */
#define BACKWARD_CASE(K, NAME, F, D)                                \
    case K:                                                         \
        AG_OMP_FOR(n >= AG_PAR_MIN)                                 \
        for (int64_t i = 0; i < n; i++) {                           \
            const T x = px[i], y = py[i];                           \
            (void)x, (void)y;                                       \
            pd[i] += pg[i] * (T)(D);                                \
        }                                                           \
        break;

static void backward(ag_tensor *out) {
    const kind k = (kind)out->iparam[0];
    ag_tensor *in = out->src[0];
    ag_tensor *gin = ag__grad_buf(in);
    if (!gin) return;
    const int64_t n = out->numel;
    AG_DISPATCH(out->dtype, T, {
        const T *px = in->data, *py = out->data, *pg = out->grad->data;
        T *pd = gin->data;
        const T p = (T)out->fparam[0];
        (void)p;
        switch (k) {
            UNARY_OPS(BACKWARD_CASE)
        case NKINDS: break;
        }
    });
}

/* The constructor shared by every unary op: bf16 computes in f32 and is
 * rounded back (both casts recorded). */
static ag_tensor *unary(kind k, ag_arena *A, ag_tensor *x, double p) {
    if (!x) return NULL;
    if (!ag__check_arena(OPS[k].name, A) || !ag__check_float(OPS[k].name, x)) return NULL;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct);
    ag_tensor *y = xc ? ag__result(OPS[k].name, A, ct, xc->ndim, xc->shape) : NULL;
    if (!y) return NULL;
    forward(k, p, xc, y);
    y->iparam[0] = k;
    y->fparam[0] = p;
    if (!ag__record(y, &OPS[k], 1, &xc)) return NULL;
    return ag__as(A, y, x->dtype);
}

ag_tensor *ag_neg_(ag_arena *A, ag_tensor *x) { return unary(NEG, A, x, 0); }
ag_tensor *ag_exp_(ag_arena *A, ag_tensor *x) { return unary(EXP, A, x, 0); }
ag_tensor *ag_log_(ag_arena *A, ag_tensor *x) { return unary(LOG, A, x, 0); }
ag_tensor *ag_sqrt_(ag_arena *A, ag_tensor *x) { return unary(SQRT, A, x, 0); }
ag_tensor *ag_rsqrt_(ag_arena *A, ag_tensor *x) { return unary(RSQRT, A, x, 0); }
/* x^p; the gradient is p x^(p-1), and 0 when p is 0 (PyTorch). */
ag_tensor *ag_pow_(ag_arena *A, ag_tensor *x, double p) { return unary(POW, A, x, p); }
ag_tensor *ag_abs_(ag_arena *A, ag_tensor *x) { return unary(ABS, A, x, 0); }
ag_tensor *ag_square_(ag_arena *A, ag_tensor *x) { return unary(SQUARE, A, x, 0); }
ag_tensor *ag_tanh_(ag_arena *A, ag_tensor *x) { return unary(TANH, A, x, 0); }
ag_tensor *ag_sigmoid_(ag_arena *A, ag_tensor *x) { return unary(SIGMOID, A, x, 0); }
ag_tensor *ag_relu_(ag_arena *A, ag_tensor *x) { return unary(RELU, A, x, 0); }
ag_tensor *ag_gelu_(ag_arena *A, ag_tensor *x) { return unary(GELU, A, x, 0); }
ag_tensor *ag_gelu_tanh_(ag_arena *A, ag_tensor *x) { return unary(GELU_TANH, A, x, 0); }
ag_tensor *ag_silu_(ag_arena *A, ag_tensor *x) { return unary(SILU, A, x, 0); }
