/* tests/gradcheck_suite/cases_blocks.c — Linear (module and F.linear),
 * Embedding, Dropout, causal self-attention, the MLP and the transformer
 * block.
 *
 * Module cases: a make function builds the module in the case's arena,
 * casts it to f64 (ag_module_cast), keeps it in `mod`, and returns
 * inputs = {x, every parameter in ag_module_parameters order}; f_module
 * runs the module's forward on inputs[0]. So the check covers the input and
 * every parameter. Norm weights are moved off their initial ones/zeros, so
 * the check does not sit at a special point.
 *
 * Dropout draws a mask from a generator on each call, while gradcheck calls
 * the function many times: each case puts the generator back in the same
 * state before every call, so every call uses one fixed mask. */
#include <math.h>
#include <string.h>

#include "suite.h"

#define UNUSED (void)n, (void)u

/* ---- module cases ------------------------------------------------------------ */

static ag_module *mod; /* the module of the case being made / checked */

static ag_tensor *f_module(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_module_forward(mod, A, x[0]);
}

/* Adds normal(0, 0.1) noise to the parameters of m's norm layers. */
typedef struct {
    ag_rng *r;
} noise_ctx;
static void add_norm_noise(const ag_named_param *p, void *ud) {
    if (!ag_module_is_norm(p->owner)) return;
    ag_rng *r = ((noise_ctx *)ud)->r;
    double *v = p->tensor->data;
    for (int64_t i = 0; i < p->tensor->numel; i++) v[i] += 0.1 * ag_rng_normal(r);
}

/* Which parameters join x in the inputs: all, or those whose dotted name
 * starts (or does not start) with a prefix. */
typedef struct {
    const char *prefix;
    bool exclude;
} param_filter;

/* m to f64 as `mod`; in = {x, m's parameters that pass the filter}. */
static int module_inputs(ag_arena *A, ag_rng *r, ag_module *m, ag_tensor *x, ag_tensor **in,
                         const param_filter *flt) {
    if (!m || !x || !ag_module_cast(m, AG_F64)) return 0;
    ag_module_visit_params(m, add_norm_noise, &(noise_ctx){r});
    mod = m;
    ag_named_param *ps;
    int np = ag_module_parameters(m, A, &ps), n = 0;
    if (np < 0) return 0;
    in[n++] = x;
    for (int i = 0; i < np; i++) {
        if (flt && (strncmp(ps[i].name, flt->prefix, strlen(flt->prefix)) == 0) == flt->exclude)
            continue;
        if (n == AG_GRADCHECK_MAX_INPUTS) return 0;
        in[n++] = ps[i].tensor;
    }
    return n;
}

/* ---- Linear --------------------------------------------------------------------- */

static int make_linear(ag_arena *A, ag_rng *r, ag_tensor **in, bool bias, int ndim,
                       const int64_t *xshape) {
    ag_nn_linear *l = ag_nn_linear_new(A, r, 4, 5, bias);
    return module_inputs(A, r, l ? &l->base : NULL, gc_randn(A, r, ndim, xshape), in, NULL);
}
static int make_linear_b2(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_linear(A, r, in, true, AG_SHAPE(3, 4));
}
static int make_linear_nb2(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_linear(A, r, in, false, AG_SHAPE(3, 4));
}
static int make_linear_b3(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_linear(A, r, in, true, AG_SHAPE(2, 3, 4));
}
static int make_linear_nb3(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_linear(A, r, in, false, AG_SHAPE(2, 3, 4));
}
static int make_linear_b1(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_linear(A, r, in, true, AG_SHAPE(4));
}

/* F.linear: x, weight[, bias] as inputs */
static ag_tensor *f_linear(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)u;
    return ag_linear(A, x[0], x[1], n > 2 ? x[2] : NULL);
}

/* F.linear(x, weight, bias) + r in one op: x, weight, r[, bias] as inputs */
static ag_tensor *f_linear_add(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)u;
    return ag_linear_add(A, x[0], x[1], n > 3 ? x[3] : NULL, x[2]);
}

/* r is x itself (a square weight): x gets both shares of the gradient */
static ag_tensor *f_linear_add_self(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_linear_add(A, x[0], x[1], NULL, x[0]);
}

/* ---- Embedding -------------------------------------------------------------------- */

/* ids [2,4] over 5 rows: row 1 three times, row 3 three times, row 2 never */
static int make_embedding(ag_arena *A, ag_rng *r, ag_tensor **in) {
    ag_nn_embedding *e = ag_nn_embedding_new(A, r, 5, 3);
    ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(2, 4),
                                   ((const int32_t[]){1, 3, 1, 0, 3, 3, 4, 1}));
    return module_inputs(A, r, e ? &e->base : NULL, ids, in, NULL);
}
/* 1-d ids, one row used four times */
static int make_embedding_1d(ag_arena *A, ag_rng *r, ag_tensor **in) {
    ag_nn_embedding *e = ag_nn_embedding_new(A, r, 3, 4);
    ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(6), ((const int32_t[]){2, 2, 0, 2, 1, 2}));
    return module_inputs(A, r, e ? &e->base : NULL, ids, in, NULL);
}

/* ---- Dropout ------------------------------------------------------------------------ */

/* F.dropout with a generator seeded afresh on every call: one fixed mask */
static ag_tensor *f_dropout(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    ag_rng rr;
    ag_rng_seed(&rr, 7);
    return ag_dropout(A, x[0], *(const double *)u, true, &rr);
}

/* The module: its generator is put back to the state it had after make. */
static ag_nn_dropout *drop_mod;
static ag_rng drop_state;
static ag_tensor *f_dropout_module(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    drop_mod->rng = drop_state;
    return ag_nn_dropout_forward(A, drop_mod, x[0]);
}
static int make_dropout_module(ag_arena *A, ag_rng *r, ag_tensor **in) {
    drop_mod = ag_nn_dropout_new(A, 0.3, 99);
    if (!drop_mod) return 0;
    drop_state = drop_mod->rng;
    in[0] = gc_randn(A, r, AG_SHAPE(2, 3, 4));
    return 1;
}

/* ---- CausalSelfAttention ------------------------------------------------------------- */

static int make_attention(ag_arena *A, ag_rng *r, ag_tensor **in, int ndim, const int64_t *xs,
                          int64_t n_head, bool bias) {
    ag_nn_attention *m = ag_nn_attention_new(A, r, xs[ndim - 1], n_head, bias, 0.0);
    return module_inputs(A, r, m ? &m->base : NULL, gc_randn(A, r, ndim, xs), in, NULL);
}
static int make_attn_b2t3c4h2(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_attention(A, r, in, AG_SHAPE(2, 3, 4), 2, true);
}
static int make_attn_t3c4h1(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_attention(A, r, in, AG_SHAPE(3, 4), 1, false);
}
static int make_attn_b2t4c6h3(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_attention(A, r, in, AG_SHAPE(2, 4, 6), 3, true);
}
static int make_attn_t1(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_attention(A, r, in, AG_SHAPE(2, 1, 4), 2, true);
}
/* 64 rows of x: q, k, v from one product of the stacked weights */
static int make_attn_stacked(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_attention(A, r, in, AG_SHAPE(2, 32, 4), 2, true);
}

/* With dropout 0.3 in training mode: both generators restored every call. */
static ag_nn_attention *attn_mod;
static ag_rng attn_states[2];
static ag_tensor *f_attention_dropout(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    attn_mod->attn_drop->rng = attn_states[0];
    attn_mod->resid_drop->rng = attn_states[1];
    return ag_nn_attention_forward(A, attn_mod, x[0]);
}
static int make_attn_dropout(ag_arena *A, ag_rng *r, ag_tensor **in) {
    attn_mod = ag_nn_attention_new(A, r, 4, 2, true, 0.3);
    if (!attn_mod) return 0;
    attn_states[0] = attn_mod->attn_drop->rng;
    attn_states[1] = attn_mod->resid_drop->rng;
    return module_inputs(A, r, &attn_mod->base, gc_randn(A, r, AG_SHAPE(2, 4, 4)), in, NULL);
}

/* ---- MLP -------------------------------------------------------------------------------- */

static int make_mlp(ag_arena *A, ag_rng *r, ag_tensor **in, ag_activation act, bool bias) {
    ag_nn_mlp *m = ag_nn_mlp_new(A, r, 4, 6, act, bias, 0.0);
    return module_inputs(A, r, m ? &m->base : NULL, gc_randn(A, r, AG_SHAPE(2, 3, 4)), in, NULL);
}
static int make_mlp_gelu(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_mlp(A, r, in, AG_ACT_GELU, true);
}
static int make_mlp_gelu_tanh(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_mlp(A, r, in, AG_ACT_GELU_TANH, true);
}
static int make_mlp_silu(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_mlp(A, r, in, AG_ACT_SILU, false);
}
/* relu: the hidden pre-activations are kept at least 0.05 away from the kink
 * at 0: each unit's up_proj bias is shifted (by the first of 0, ±0.037,
 * ±0.074, ... that works; six rows exclude at most 0.6 of the line). */
static int make_mlp_relu(ag_arena *A, ag_rng *r, ag_tensor **in) {
    int n = make_mlp(A, r, in, AG_ACT_RELU, true);
    if (n != 5) return 0;
    ag_nn_mlp *m = (ag_nn_mlp *)mod;
    const double *x = in[0]->data, *w = m->up_proj->weight->data;
    double *b = m->up_proj->bias->data;
    for (int h = 0; h < 6; h++) {
        double s[6];
        for (int row = 0; row < 6; row++) {
            s[row] = 0;
            for (int k = 0; k < 4; k++) s[row] += x[row * 4 + k] * w[h * 4 + k];
        }
        for (int t = 0; t < 200; t++) {
            double shift = 0.037 * ((t + 1) / 2) * (t % 2 ? 1 : -1), bh = b[h] + shift;
            bool clear = true;
            for (int row = 0; row < 6; row++) clear = clear && fabs(s[row] + bh) >= 0.05;
            if (clear) {
                b[h] = bh;
                break;
            }
        }
    }
    return n;
}

/* ---- Block ------------------------------------------------------------------------------ */

static int make_block(ag_arena *A, ag_rng *r, ag_tensor **in, const ag_block_config *c, int ndim,
                      const int64_t *xs, const param_filter *flt, bool eval) {
    ag_nn_block *b = ag_nn_block_new(A, r, c);
    if (b && eval) ag_module_train(&b->base, false);
    return module_inputs(A, r, b ? &b->base : NULL, gc_randn(A, r, ndim, xs), in, flt);
}
static int make_block_llama(ag_arena *A, ag_rng *r, ag_tensor **in) {
    ag_block_config c = {.n_embd = 8, .n_head = 2, .act = AG_ACT_GELU, .bias = true,
                         .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA)};
    return make_block(A, r, in, &c, AG_SHAPE(2, 3, 8), NULL, false);
}
static int make_block_rmsnorm_2d(ag_arena *A, ag_rng *r, ag_tensor **in) {
    ag_block_config c = {.n_embd = 6, .n_head = 3, .n_hidden = 10, .act = AG_ACT_SILU,
                         .norm = {&ag_rmsnorm_types[AG_RMSNORM], 1e-5}};
    return make_block(A, r, in, &c, AG_SHAPE(4, 6), NULL, false);
}
static int make_block_gemma(ag_arena *A, ag_rng *r, ag_tensor **in) {
    ag_block_config c = {.n_embd = 4, .n_head = 1, .n_hidden = 8, .act = AG_ACT_GELU_TANH,
                         .bias = true, .norm = AG_NORM_RMS(AG_RMSNORM_GEMMA)};
    return make_block(A, r, in, &c, AG_SHAPE(2, 3, 4), NULL, false);
}
static int make_block_layernorm(ag_arena *A, ag_rng *r, ag_tensor **in) {
    ag_block_config c = {.n_embd = 8, .n_head = 2, .act = AG_ACT_GELU,
                         .norm = AG_NORM_LAYERNORM};
    return make_block(A, r, in, &c, AG_SHAPE(2, 3, 8), NULL, false);
}
/* LayerNorm with biases everywhere has 16 parameters, more than fit beside
 * x: two cases, the MLP's parameters and the rest. */
static const ag_block_config LN_BIAS = {.n_embd = 8, .n_head = 2, .act = AG_ACT_GELU,
                                        .bias = true, .norm = AG_NORM_LAYERNORM};
static int make_block_layernorm_bias_a(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_block(A, r, in, &LN_BIAS, AG_SHAPE(2, 3, 8), &(param_filter){"mlp.", true},
                      false);
}
static int make_block_layernorm_bias_b(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_block(A, r, in, &LN_BIAS, AG_SHAPE(2, 3, 8), &(param_filter){"mlp.", false},
                      false);
}
/* dropout 0.1 in eval mode: the identity, so the block is deterministic */
static int make_block_eval(ag_arena *A, ag_rng *r, ag_tensor **in) {
    ag_block_config c = {.n_embd = 8, .n_head = 4, .n_hidden = 16, .act = AG_ACT_GELU,
                         .bias = true, .dropout = 0.1,
                         .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA)};
    return make_block(A, r, in, &c, AG_SHAPE(1, 5, 8), NULL, true);
}

#define MCASE(OP, SHAPES, FN, MAKE) {.op = (OP), .shapes = (SHAPES), .fn = (FN), .make = (MAKE)}

const gc_case gc_blocks[] = {
    MCASE("Linear", "Linear(4,5) x[3,4]", f_module, make_linear_b2),
    MCASE("Linear", "Linear(4,5,bias=false) x[3,4]", f_module, make_linear_nb2),
    MCASE("Linear", "Linear(4,5) x[2,3,4]", f_module, make_linear_b3),
    MCASE("Linear", "Linear(4,5,bias=false) x[2,3,4]", f_module, make_linear_nb3),
    MCASE("Linear", "Linear(4,5) x[4]", f_module, make_linear_b1),
    GC_CASE("linear", "[4] W[3,4] b[3]", f_linear, GC_N(4), GC_N(3, 4), GC_N(3)),
    GC_CASE("linear", "[2,3,4] W[5,4] b[5]", f_linear, GC_N(2, 3, 4), GC_N(5, 4), GC_N(5)),
    GC_CASE("linear", "[5,4] W[3,4]", f_linear, GC_N(5, 4), GC_N(3, 4)),
    GC_CASE("linear", "[2,1,3] W[1,3] const b[1]", f_linear, GC_N(2, 1, 3), GC_N(1, 3), GC_C(1)),
    GC_CASE("linear_add", "[2,3,4] W[5,4] r[2,3,5] b[5]", f_linear_add, GC_N(2, 3, 4),
            GC_N(5, 4), GC_N(2, 3, 5), GC_N(5)),
    GC_CASE("linear_add", "[5,4] W[3,4] r[5,3]", f_linear_add, GC_N(5, 4), GC_N(3, 4),
            GC_N(5, 3)),
    GC_CASE("linear_add", "[4] W[3,4] r[3] const b[3]", f_linear_add, GC_N(4), GC_N(3, 4),
            GC_N(3), GC_C(3)),
    GC_CASE("linear_add", "[3,4] W[4,4] r = x", f_linear_add_self, GC_N(3, 4), GC_N(4, 4)),
    MCASE("Embedding", "Embedding(5,3) ids[2,4] repeats", f_module, make_embedding),
    MCASE("Embedding", "Embedding(3,4) ids[6] repeats", f_module, make_embedding_1d),
    {.op = "dropout", .shapes = "[4,5] p=0.4 fixed seed", .fn = f_dropout,
     .userdata = (void *)&(const double){0.4}, .in = {GC_N(4, 5)}},
    {.op = "dropout", .shapes = "[2,3,4] p=0.5 fixed seed", .fn = f_dropout,
     .userdata = (void *)&(const double){0.5}, .in = {GC_N(2, 3, 4)}},
    MCASE("Dropout", "Dropout(0.3) [2,3,4] train", f_dropout_module, make_dropout_module),
    MCASE("CausalSelfAttention", "B2 T3 C4 H2 bias", f_module, make_attn_b2t3c4h2),
    MCASE("CausalSelfAttention", "[T3,C4] H1 no bias", f_module, make_attn_t3c4h1),
    MCASE("CausalSelfAttention", "B2 T4 C6 H3 bias", f_module, make_attn_b2t4c6h3),
    MCASE("CausalSelfAttention", "B2 T1 C4 H2 bias", f_module, make_attn_t1),
    MCASE("CausalSelfAttention", "B2 T32 C4 H2 bias (stacked)", f_module, make_attn_stacked),
    MCASE("CausalSelfAttention", "B2 T4 C4 H2 dropout 0.3 train", f_attention_dropout,
          make_attn_dropout),
    MCASE("MLP", "[2,3,4] 4-6-4 gelu", f_module, make_mlp_gelu),
    MCASE("MLP", "[2,3,4] 4-6-4 gelu_tanh", f_module, make_mlp_gelu_tanh),
    MCASE("MLP", "[2,3,4] 4-6-4 relu", f_module, make_mlp_relu),
    MCASE("MLP", "[2,3,4] 4-6-4 silu no bias", f_module, make_mlp_silu),
    MCASE("Block", "[2,3,8] H2 LlamaRMSNorm bias", f_module, make_block_llama),
    MCASE("Block", "[4,6] H3 RMSNorm silu", f_module, make_block_rmsnorm_2d),
    MCASE("Block", "[2,3,4] H1 GemmaRMSNorm bias", f_module, make_block_gemma),
    MCASE("Block", "[2,3,8] H2 LayerNorm", f_module, make_block_layernorm),
    MCASE("Block", "[2,3,8] LayerNorm bias: x,norms,attn", f_module, make_block_layernorm_bias_a),
    MCASE("Block", "[2,3,8] LayerNorm bias: x,mlp", f_module, make_block_layernorm_bias_b),
    MCASE("Block", "[1,5,8] H4 dropout 0.1 eval", f_module, make_block_eval),
};
const int gc_blocks_count = sizeof gc_blocks / sizeof gc_blocks[0];
