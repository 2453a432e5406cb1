/* demos/common/tinygpt_model.h — the tiny character-level GPT of the tinygpt
 * demo, shared with the programs that train or time it. Not part of the
 * library.
 *
 * Token and position embeddings, n_layer pre-norm blocks (norm -> causal
 * multi-head attention -> residual; norm -> MLP of width 4 n_embd ->
 * residual; no biases, no dropout), a final norm and an LM head without
 * bias. tinygpt's defaults are the Llama RMSNorm (AG_RMSNORM_LLAMA, eps
 * 1e-6) and exact GELU.
 */
#ifndef AG_DEMO_TINYGPT_MODEL_H
#define AG_DEMO_TINYGPT_MODEL_H

#include <ag/ag.h>

#include <stddef.h>
#include <stdint.h>

/* Targets with this value take no part in the loss (PyTorch's default
 * ignore_index). */
#define AG_DEMO_GPT_IGNORE (-100)

typedef struct {
    int vocab, block_size, n_layer, n_embd, n_head;
    ag_norm_choice norm;
    ag_activation act;
} ag_demo_gpt_config;

typedef struct {
    ag_module base;
    ag_demo_gpt_config cfg;
    ag_nn_embedding *wte, *wpe;   /* token and position embeddings */
    ag_module_list *layers;       /* n_layer ag_nn_block */
    ag_module *norm;              /* the final norm */
    ag_nn_linear *lm_head;        /* n_embd -> vocab, no bias */
} ag_demo_gpt;

/* Builds the model in P, initialised from a generator seeded with seed, in
 * GPT-2's way: weights normal(0, 0.02), the projections into the residual
 * stream (o_proj, down_proj) scaled by 1/sqrt(2 n_layer), norms at their
 * defaults. The same seed gives the same model. */
ag_demo_gpt *ag_demo_gpt_new(ag_arena *P, const ag_demo_gpt_config *c, uint64_t seed);

/* Logits [B, T, vocab] for ids [B, T] (i32), T <= block_size. */
ag_tensor *ag_demo_gpt_forward(ag_arena *A, ag_demo_gpt *g, ag_tensor *ids);

/* Mean cross-entropy over the targets (i32, [B*T]) of ids [B, T] that are
 * not AG_DEMO_GPT_IGNORE. */
ag_tensor *ag_demo_gpt_loss(ag_arena *A, ag_demo_gpt *g, ag_tensor *ids, ag_tensor *targets);

#endif
