/* ag/layers.h — Linear, Embedding, Dropout: functional forms and modules.
 *
 * Functional forms follow torch.nn.functional (ag_linear is F.linear);
 * modules are structs named ag_nn_<layer> whose first member is the
 * ag_module base (nn.Linear is ag_nn_linear). Constructors take the arena
 * the parameters live in and the generator that initialises them.
 */
#ifndef AG_LAYERS_H
#define AG_LAYERS_H

#include "ag/module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* F.linear: y = x weight^T + bias over any number of leading dims.
 * x [..., in], weight [out, in], bias [out] or NULL → y [..., out].
 * One fused op: the products go to BLAS without transposing weight, and
 * backward computes dx = dy W, dW = dy^T x (summed over the leading dims),
 * db = sum dy. Dtypes promote as for matmul. */
ag_tensor *ag_linear_(ag_arena *A, ag_tensor *x, ag_tensor *weight, ag_tensor *bias);
#define ag_linear(...) AG_AT(ag_linear_, __VA_ARGS__)

/* F.linear(x, weight, bias) + r in one op, r of the result's shape [..., out]
 * (a residual connection: r + proj(h)). The result starts as r and the
 * product is added into it by the BLAS, so the sum costs no pass over
 * memory of its own, and backward hands dY to r and to the products
 * without an add node between them. */
ag_tensor *ag_linear_add_(ag_arena *A, ag_tensor *x, ag_tensor *weight, ag_tensor *bias,
                          ag_tensor *r);
#define ag_linear_add(...) AG_AT(ag_linear_add_, __VA_ARGS__)

/* F.dropout: in training, zeroes each element with probability p (drawn
 * from r) and scales the rest by 1/(1-p); otherwise (or p = 0) returns x
 * itself. p in [0, 1); the gradient is masked and scaled the same way. */
ag_tensor *ag_dropout_(ag_arena *A, ag_tensor *x, double p, bool training, ag_rng *r);
#define ag_dropout(...) AG_AT(ag_dropout_, __VA_ARGS__)

/* nn.Linear(in_features, out_features, bias): weight [out, in] and bias
 * [out], both uniform in ±1/sqrt(in_features) (PyTorch's default), f32. */
typedef struct ag_nn_linear {
    ag_module base;
    int64_t in_features, out_features;
    ag_tensor *weight, *bias; /* bias NULL without one */
} ag_nn_linear;
ag_nn_linear *ag_nn_linear_new_(ag_arena *P, ag_rng *r, int64_t in_features,
                                int64_t out_features, bool bias);
ag_tensor *ag_nn_linear_forward_(ag_arena *A, ag_nn_linear *m, ag_tensor *x);
#define ag_nn_linear_new(...) AG_AT_PTR(ag_nn_linear_new_, ag_nn_linear *, __VA_ARGS__)
#define ag_nn_linear_forward(...) AG_AT(ag_nn_linear_forward_, __VA_ARGS__)
extern const ag_module_type ag_nn_linear_type;

/* nn.Embedding(num_embeddings, embedding_dim): weight [V, D] ~ normal(0, 1),
 * f32. Forward takes i32 ids of any shape: ids.shape + [D]; the gradient
 * is scattered (added) into the rows used. */
typedef struct ag_nn_embedding {
    ag_module base;
    int64_t num_embeddings, embedding_dim;
    ag_tensor *weight;
} ag_nn_embedding;
ag_nn_embedding *ag_nn_embedding_new_(ag_arena *P, ag_rng *r, int64_t num_embeddings,
                                      int64_t embedding_dim);
ag_tensor *ag_nn_embedding_forward_(ag_arena *A, ag_nn_embedding *m, ag_tensor *ids);
#define ag_nn_embedding_new(...) AG_AT_PTR(ag_nn_embedding_new_, ag_nn_embedding *, __VA_ARGS__)
#define ag_nn_embedding_forward(...) AG_AT(ag_nn_embedding_forward_, __VA_ARGS__)
extern const ag_module_type ag_nn_embedding_type;

/* nn.Dropout(p): its own generator, seeded here, so a run is repeatable;
 * identity in eval mode (ag_module_train(m, false)).
 *
 * ag_nn_dropout_forward draws from the module's generator, which it
 * advances: one thread at a time per module (unless the thread has its own
 * generator, below). ag_nn_dropout_forward_rng draws from r instead and
 * leaves the module untouched, so threads sharing one module may each pass
 * their own r; r NULL in training with p > 0 is reported (as ag_dropout). */
typedef struct ag_nn_dropout {
    ag_module base;
    double p;
    ag_rng rng;
} ag_nn_dropout;
ag_nn_dropout *ag_nn_dropout_new_(ag_arena *P, double p, uint64_t seed);
ag_tensor *ag_nn_dropout_forward_(ag_arena *A, ag_nn_dropout *m, ag_tensor *x);
#define ag_nn_dropout_new(...) AG_AT_PTR(ag_nn_dropout_new_, ag_nn_dropout *, __VA_ARGS__)
ag_tensor *ag_nn_dropout_forward_rng_(ag_arena *A, ag_nn_dropout *m, ag_tensor *x, ag_rng *r);
#define ag_nn_dropout_forward(...) AG_AT(ag_nn_dropout_forward_, __VA_ARGS__)
#define ag_nn_dropout_forward_rng(...) AG_AT(ag_nn_dropout_forward_rng_, __VA_ARGS__)

/* Sets the calling thread's dropout generator: while it is set, every
 * Dropout module's forward on this thread (ag_nn_dropout_forward, and
 * through ag_module_forward or the blocks) draws from r, not from the
 * module's own generator, which stays untouched. So threads running one
 * shared model forward (in training mode) each set their own r. NULL goes
 * back to the modules' generators. r must outlive its use; returns the
 * previous one (NULL: none). Each thread starts with none. */
ag_rng *ag_nn_set_thread_dropout_rng(ag_rng *r);
extern const ag_module_type ag_nn_dropout_type;

#ifdef __cplusplus
}
#endif
#endif
