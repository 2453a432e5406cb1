/* tests/gradcheck_suite/cases_modules.c — the norm modules: every RMSNorm
 * kind and LayerNorm (with and without affine parameters and bias, and over
 * several trailing dims), the activation modules, and Sequential, each
 * checked with respect to its input and every parameter.
 *
 * A make function builds the module in the case's arena, casts it to f64,
 * moves its parameters off their initial values (ones, or Gemma's zeros,
 * would hide a wrong dweight), keeps the module in `cur` and returns
 * inputs = {x, parameters...}; the checked function runs the module's
 * forward through the base (ag_module_forward, so the type's forward is
 * what is checked). Cases run one at a time, make then check, so one
 * file-static module pointer serves them all. */
#include "suite.h"

static ag_module *cur;

static ag_tensor *f_module(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_module_forward_(cur, A, x[0]);
}

/* ---- RMSNorm family ------------------------------------------------------- */

/* The module of kind k over the last nshape dims of x's shape; returns the
 * input count. Weights: normal(1, 0.3) (Gemma: normal(0, 0.5)). */
static int make_rms(ag_arena *A, ag_rng *r, ag_tensor **in, ag_rmsnorm_kind k, bool affine,
                    int ndim, const int64_t *shape, int nshape) {
    in[0] = gc_randn(A, r, ndim, shape);
    ag_nn_rmsnorm *m =
        ag_nn_rmsnorm_new_(A, k, nshape, shape + ndim - nshape, AG_EPS_DEFAULT, affine);
    if (!in[0] || !m || !ag_module_cast_(&m->base, AG_F64)) return 0;
    cur = &m->base;
    if (!m->weight) return 1;
    const bool gemma = k == AG_RMSNORM_GEMMA;
    if (!ag_init_normal_(m->weight, r, gemma ? 0.0 : 1.0, gemma ? 0.5 : 0.3)) return 0;
    in[1] = m->weight;
    return 2;
}

#define RMS_MAKER(NAME, KIND, AFFINE, NSHAPE, ...)                                            \
    static int NAME(ag_arena *A, ag_rng *r, ag_tensor **in) {                                 \
        return make_rms(A, r, in, KIND, AFFINE, AG_SHAPE(__VA_ARGS__), NSHAPE);               \
    }

RMS_MAKER(rms_torch, AG_RMSNORM, true, 1, 3, 6)
RMS_MAKER(rms_torch_2d, AG_RMSNORM, true, 2, 2, 3, 4)
RMS_MAKER(rms_torch_plain, AG_RMSNORM, false, 1, 4, 5)
RMS_MAKER(rms_llama, AG_RMSNORM_LLAMA, true, 1, 3, 6)
RMS_MAKER(rms_llama_d1, AG_RMSNORM_LLAMA, true, 1, 4, 1)
RMS_MAKER(rms_llama_plain, AG_RMSNORM_LLAMA, false, 1, 2, 7)
RMS_MAKER(rms_sqrt, AG_RMSNORM_SQRT, true, 1, 3, 6)
RMS_MAKER(rms_sqrt_batch, AG_RMSNORM_SQRT, true, 1, 2, 2, 5)
RMS_MAKER(rms_deepseek, AG_RMSNORM_DEEPSEEK, true, 1, 2, 3, 8)
RMS_MAKER(rms_deepseek_row, AG_RMSNORM_DEEPSEEK, true, 1, 9)
RMS_MAKER(rms_t5, AG_RMSNORM_T5, true, 1, 3, 6)
RMS_MAKER(rms_t5_2d, AG_RMSNORM_T5, true, 2, 2, 2, 3)
RMS_MAKER(rms_gemma, AG_RMSNORM_GEMMA, true, 1, 3, 6)
RMS_MAKER(rms_gemma_2d, AG_RMSNORM_GEMMA, true, 2, 2, 3, 4)
RMS_MAKER(rms_weightless, AG_RMSNORM_WEIGHTLESS, true, 1, 3, 6)
RMS_MAKER(rms_weightless_2d, AG_RMSNORM_WEIGHTLESS, false, 2, 2, 2, 5)
RMS_MAKER(rms_scale, AG_RMSNORM_SCALE, true, 1, 2, 3, 5)
RMS_MAKER(rms_scale_3d, AG_RMSNORM_SCALE, true, 3, 2, 2, 2, 3)

/* ---- LayerNorm ------------------------------------------------------------ */

/* Weight normal(1, 0.3), bias normal(0, 0.3); x has mean 1 so that the
 * centring matters. */
static int make_ln(ag_arena *A, ag_rng *r, ag_tensor **in, bool affine, bool bias, int ndim,
                   const int64_t *shape, int nshape) {
    in[0] = gc_uniform(A, r, -1.0, 3.0, ndim, shape);
    ag_nn_layernorm *m = ag_nn_layernorm_new_(A, nshape, shape + ndim - nshape, 1e-5, affine, bias);
    if (!in[0] || !m || !ag_module_cast_(&m->base, AG_F64)) return 0;
    cur = &m->base;
    int n = 1;
    if (m->weight) {
        if (!ag_init_normal_(m->weight, r, 1.0, 0.3)) return 0;
        in[n++] = m->weight;
    }
    if (m->bias) {
        if (!ag_init_normal_(m->bias, r, 0.0, 0.3)) return 0;
        in[n++] = m->bias;
    }
    return n;
}

#define LN_MAKER(NAME, AFFINE, BIAS, NSHAPE, ...)                                             \
    static int NAME(ag_arena *A, ag_rng *r, ag_tensor **in) {                                 \
        return make_ln(A, r, in, AFFINE, BIAS, AG_SHAPE(__VA_ARGS__), NSHAPE);                \
    }

LN_MAKER(ln_full, true, true, 1, 3, 6)
LN_MAKER(ln_batch, true, true, 1, 2, 3, 5)
LN_MAKER(ln_no_bias, true, false, 1, 3, 6)
LN_MAKER(ln_plain, false, false, 1, 4, 5)
LN_MAKER(ln_2d, true, true, 2, 2, 3, 4)
LN_MAKER(ln_3d_plain, false, false, 3, 2, 2, 2, 3)
LN_MAKER(ln_d2, true, true, 1, 5, 2)

/* ---- activations and Sequential ---------------------------------------------- */

/* The activation module of kind act on x [3,5]; ReLU's x is kept 0.05 away
 * from its kink at 0. */
static int make_act(ag_arena *A, ag_rng *r, ag_tensor **in, ag_activation act) {
    in[0] = act == AG_ACT_RELU ? gc_randn_away(A, r, 0.05, 1, (const double[]){0.0}, AG_SHAPE(3, 5))
                               : gc_randn(A, r, AG_SHAPE(3, 5));
    cur = ag_nn_activation_new_(A, act);
    return in[0] && cur ? 1 : 0;
}

#define ACT_MAKER(NAME, ACT)                                                                  \
    static int NAME(ag_arena *A, ag_rng *r, ag_tensor **in) { return make_act(A, r, in, ACT); }

ACT_MAKER(act_gelu, AG_ACT_GELU)
ACT_MAKER(act_gelu_tanh, AG_ACT_GELU_TANH)
ACT_MAKER(act_relu, AG_ACT_RELU)
ACT_MAKER(act_silu, AG_ACT_SILU)
ACT_MAKER(act_tanh, AG_ACT_TANH)
ACT_MAKER(act_sigmoid, AG_ACT_SIGMOID)
ACT_MAKER(act_identity, AG_ACT_IDENTITY)

/* Linear(4, 6) -> act -> Linear(6, 3) -> last over x [2, 4] (or [2, 3, 4]),
 * in f64; inputs x and the four parameters (biases moved off PyTorch's
 * uniform init so that they are not tiny). */
static int make_seq(ag_arena *A, ag_rng *r, ag_tensor **in, ag_activation act,
                    ag_activation last, int ndim, const int64_t *shape) {
    ag_nn_linear *fc1 = ag_nn_linear_new_(A, r, 4, 6, true);
    ag_nn_linear *fc2 = ag_nn_linear_new_(A, r, 6, 3, true);
    if (!fc1 || !fc2) return 0;
    ag_module *layers[] = {&fc1->base, ag_nn_activation_new_(A, act), &fc2->base,
                           ag_nn_activation_new_(A, last)};
    ag_nn_sequential *s = ag_nn_sequential_of_(A, layers, 4);
    in[0] = gc_randn(A, r, ndim, shape);
    if (!s || !in[0] || !ag_module_cast_(&s->base, AG_F64) ||
        !ag_init_normal_(fc1->bias, r, 0.0, 0.5) || !ag_init_normal_(fc2->bias, r, 0.0, 0.5))
        return 0;
    cur = &s->base;
    in[1] = fc1->weight, in[2] = fc1->bias, in[3] = fc2->weight, in[4] = fc2->bias;
    return 5;
}

static int seq_gelu_tanh(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_seq(A, r, in, AG_ACT_GELU, AG_ACT_TANH, AG_SHAPE(2, 4));
}
static int seq_silu_sigmoid(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_seq(A, r, in, AG_ACT_SILU, AG_ACT_SIGMOID, AG_SHAPE(2, 3, 4));
}
static int seq_gelu_tanh_identity(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_seq(A, r, in, AG_ACT_GELU_TANH, AG_ACT_IDENTITY, AG_SHAPE(3, 4));
}

#define CASE(OP, SHAPES, MAKE) {.op = (OP), .shapes = (SHAPES), .fn = f_module, .make = (MAKE)}

const gc_case gc_modules[] = {
    CASE("RMSNorm", "[3,6] over (6,) + weight", rms_torch),
    CASE("RMSNorm", "[2,3,4] over (3,4) + weight", rms_torch_2d),
    CASE("RMSNorm", "[4,5] over (5,) no affine", rms_torch_plain),
    CASE("LlamaRMSNorm", "[3,6] over (6,) + weight", rms_llama),
    CASE("LlamaRMSNorm", "[4,1] over (1,) + weight", rms_llama_d1),
    CASE("LlamaRMSNorm", "[2,7] over (7,) no affine", rms_llama_plain),
    CASE("RMSNormSqrt", "[3,6] over (6,) + weight", rms_sqrt),
    CASE("RMSNormSqrt", "[2,2,5] over (5,) + weight", rms_sqrt_batch),
    CASE("DeepseekV2RMSNorm", "[2,3,8] over (8,) + weight", rms_deepseek),
    CASE("DeepseekV2RMSNorm", "[9] over (9,) + weight", rms_deepseek_row),
    CASE("T5LayerNorm", "[3,6] over (6,) + weight", rms_t5),
    CASE("T5LayerNorm", "[2,2,3] over (2,3) + weight", rms_t5_2d),
    CASE("GemmaRMSNorm", "[3,6] over (6,) + weight (1+w)", rms_gemma),
    CASE("GemmaRMSNorm", "[2,3,4] over (3,4) + weight (1+w)", rms_gemma_2d),
    CASE("WeightlessRMSNorm", "[3,6] over (6,)", rms_weightless),
    CASE("WeightlessRMSNorm", "[2,2,5] over (2,5)", rms_weightless_2d),
    CASE("ScaleRMSNorm", "[2,3,5] over (5,) + scale", rms_scale),
    CASE("ScaleRMSNorm", "[2,2,2,3] over (2,2,3) + scale", rms_scale_3d),
    CASE("LayerNorm", "[3,6] over (6,) + weight + bias", ln_full),
    CASE("LayerNorm", "[2,3,5] over (5,) + weight + bias", ln_batch),
    CASE("LayerNorm", "[3,6] over (6,) + weight, no bias", ln_no_bias),
    CASE("LayerNorm", "[4,5] over (5,) no affine", ln_plain),
    CASE("LayerNorm", "[2,3,4] over (3,4) + weight + bias", ln_2d),
    CASE("LayerNorm", "[2,2,2,3] over (2,2,3) no affine", ln_3d_plain),
    CASE("LayerNorm", "[5,2] over (2,) + weight + bias", ln_d2),
    CASE("nn.GELU", "[3,5] approximate='none'", act_gelu),
    CASE("nn.GELU", "[3,5] approximate='tanh'", act_gelu_tanh),
    CASE("nn.ReLU", "[3,5] off the kink", act_relu),
    CASE("nn.SiLU", "[3,5]", act_silu),
    CASE("nn.Tanh", "[3,5]", act_tanh),
    CASE("nn.Sigmoid", "[3,5]", act_sigmoid),
    CASE("nn.Identity", "[3,5]", act_identity),
    CASE("Sequential", "[2,4] Linear GELU Linear Tanh", seq_gelu_tanh),
    CASE("Sequential", "[2,3,4] Linear SiLU Linear Sigmoid", seq_silu_sigmoid),
    CASE("Sequential", "[3,4] Linear GELU(tanh) Linear Identity", seq_gelu_tanh_identity),
};
const int gc_modules_count = sizeof gc_modules / sizeof gc_modules[0];
