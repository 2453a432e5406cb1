/* ag/blocks.h — what a tiny GPT is made of: causal multi-head
 * self-attention, an MLP, and a pre-norm transformer block.
 *
 * Built from core ops and the layers of ag/layers.h, so their gradients
 * come from the engine and each is in the gradient-check suite. Children are
 * named as in Hugging Face's Llama checkpoints:
 *   block:      input_layernorm, self_attn, post_attention_layernorm, mlp
 *   attention:  q_proj, k_proj, v_proj, o_proj
 *   mlp:        up_proj, down_proj
 */
#ifndef AG_BLOCKS_H
#define AG_BLOCKS_H

#include "ag/layers.h"
#include "ag/activation.h"
#include "ag/norms.h"
#include "ag/registry.h"

#ifdef __cplusplus
extern "C" {
#endif


/* Causal multi-head self-attention over x [B, T, C] (or [T, C]):
 * q, k, v = x Wq^T, x Wk^T, x Wv^T split into n_head heads of C/n_head;
 * att = softmax(q k^T / sqrt(C/n_head) with future positions masked);
 * y = (att v, heads joined) Wo^T. Dropout p on the attention weights and on
 * the output in training mode. */
typedef struct ag_nn_attention {
    ag_module base;
    int64_t n_embd, n_head;
    double dropout;
    ag_nn_linear *q_proj, *k_proj, *v_proj, *o_proj;
    ag_nn_dropout *attn_drop, *resid_drop;
} ag_nn_attention;
ag_nn_attention *ag_nn_attention_new_(ag_arena *P, ag_rng *r, int64_t n_embd, int64_t n_head,
                                      bool bias, double dropout);
ag_tensor *ag_nn_attention_forward_(ag_arena *A, ag_nn_attention *m, ag_tensor *x);
#define ag_nn_attention_new(...) AG_AT_PTR(ag_nn_attention_new_, ag_nn_attention *, __VA_ARGS__)
#define ag_nn_attention_forward(...) AG_AT(ag_nn_attention_forward_, __VA_ARGS__)
extern const ag_module_type ag_nn_attention_type;

/* MLP: down_proj(act(up_proj(x))), hidden width n_hidden (GPT: 4 n_embd). */
typedef struct ag_nn_mlp {
    ag_module base;
    ag_activation act;
    ag_nn_linear *up_proj, *down_proj;
    ag_nn_dropout *drop;
} ag_nn_mlp;
ag_nn_mlp *ag_nn_mlp_new_(ag_arena *P, ag_rng *r, int64_t n_embd, int64_t n_hidden,
                          ag_activation act, bool bias, double dropout);
ag_tensor *ag_nn_mlp_forward_(ag_arena *A, ag_nn_mlp *m, ag_tensor *x);
#define ag_nn_mlp_new(...) AG_AT_PTR(ag_nn_mlp_new_, ag_nn_mlp *, __VA_ARGS__)
#define ag_nn_mlp_forward(...) AG_AT(ag_nn_mlp_forward_, __VA_ARGS__)
extern const ag_module_type ag_nn_mlp_type;

/* Which norm a block uses: a norm type registered with a constructor
 * (ag_norm_register_make in ag/registry.h; every built-in has one) and its
 * eps. A zeroed choice (no type) is reported by ag_norm_new. */
typedef struct ag_norm_choice {
    const ag_module_type *type; /* e.g. &ag_nn_layernorm_type, &ag_rmsnorm_types[kind] */
    double eps;                 /* AG_EPS_DEFAULT: the type's default */
} ag_norm_choice;

/* Constant initializers for an RMSNorm kind / LayerNorm with its default eps:
 *   ag_block_config c = {.n_embd = 64, .n_head = 4, .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA)};
 * (in an assignment: c.norm = (ag_norm_choice)AG_NORM_LAYERNORM;). A type of
 * one's own: {&my_norm_type, AG_EPS_DEFAULT}. */
#define AG_NORM_RMS(kind) {&ag_rmsnorm_types[(kind)], AG_EPS_DEFAULT}
#define AG_NORM_LAYERNORM {&ag_nn_layernorm_type, AG_EPS_DEFAULT}

typedef struct ag_block_config {
    int64_t n_embd, n_head, n_hidden; /* n_hidden 0: 4 n_embd */
    ag_activation act;
    bool bias;
    double dropout;
    ag_norm_choice norm;
} ag_block_config;

/* Makes the norm a choice describes, over the last dim n, in P, through its
 * type's registered constructor; the module's type is c.type. Reports and
 * returns NULL for a NULL arena, n <= 0, no type, a type that is not a
 * registered norm or has no constructor, or an eps that is neither
 * AG_EPS_DEFAULT nor finite (a plain NaN included). */
ag_module *ag_norm_new_(ag_arena *P, ag_norm_choice c, int64_t n);
#define ag_norm_new(...) AG_AT_PTR(ag_norm_new_, ag_module *, __VA_ARGS__)

/* Pre-norm transformer block:
 *   x = x + self_attn(input_layernorm(x))
 *   x = x + mlp(post_attention_layernorm(x)) */
typedef struct ag_nn_block {
    ag_module base;
    ag_module *input_layernorm, *post_attention_layernorm;
    ag_nn_attention *self_attn;
    ag_nn_mlp *mlp;
} ag_nn_block;
ag_nn_block *ag_nn_block_new_(ag_arena *P, ag_rng *r, const ag_block_config *c);
ag_tensor *ag_nn_block_forward_(ag_arena *A, ag_nn_block *m, ag_tensor *x);
#define ag_nn_block_new(...) AG_AT_PTR(ag_nn_block_new_, ag_nn_block *, __VA_ARGS__)
#define ag_nn_block_forward(...) AG_AT(ag_nn_block_forward_, __VA_ARGS__)
extern const ag_module_type ag_nn_block_type;

#ifdef __cplusplus
}
#endif
#endif
