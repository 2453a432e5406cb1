/* tests/errors/sites_core.c — the call-site rows for core: arena, creation,
 * element access, engine, gradcheck and the ops. Each case makes one
 * failing call (a bad input by the function's contract) on the line it
 * returns; call_sites.c runs them. */
#include <math.h>
#include <stdint.h>

#include "errors_test.h"

/* ---- arena ----------------------------------------------------------------- */
/* SIZE_MAX cannot be rounded up to the alignment. */
static int bad_ag_arena_new(site_inputs *in) {
    (void)in;
    ag_arena *a = ag_arena_new(SIZE_MAX); const int line = __LINE__;
    ag_arena_free(a);
    return line;
}
static int bad_ag_arena_alloc(site_inputs *in) {
    (void)in;
    (void)ag_arena_alloc(A, SIZE_MAX); return __LINE__;
}
static int bad_ag_arena_calloc(site_inputs *in) {
    (void)in;
    (void)ag_arena_calloc(A, SIZE_MAX); return __LINE__;
}

/* ---- creation and element access ------------------------------------------- */
static int bad_ag_empty(site_inputs *in) {
    (void)in;
    (void)ag_empty(A, AG_F32, AG_SHAPE(2, -1)); return __LINE__;
}
static int bad_ag_zeros(site_inputs *in) {
    (void)in;
    (void)ag_zeros(A, AG_F32, AG_SHAPE(2, -1)); return __LINE__;
}
static int bad_ag_ones(site_inputs *in) {
    (void)in;
    (void)ag_ones(A, AG_F32, AG_SHAPE(2, -1)); return __LINE__;
}
static int bad_ag_full(site_inputs *in) {
    (void)in;
    (void)ag_full(NULL, AG_F32, AG_SHAPE(2), 1.0); return __LINE__;
}
static int bad_ag_scalar(site_inputs *in) {
    (void)in;
    (void)ag_scalar(NULL, AG_F32, 1.0); return __LINE__;
}
static int bad_ag_arange(site_inputs *in) {
    (void)in;
    (void)ag_arange(A, AG_F32, 0, 10, 0); return __LINE__;
}
static int bad_ag_from_array(site_inputs *in) {
    (void)in;
    (void)ag_from_array(A, AG_F32, AG_SHAPE(2), NULL); return __LINE__;
}
static int bad_ag_from_f64(site_inputs *in) {
    (void)in;
    (void)ag_from_f64(A, AG_F32, AG_SHAPE(2), NULL); return __LINE__;
}
static int bad_ag_copy_into(site_inputs *in) {
    (void)ag_copy_into(in->x, in->y); return __LINE__;
}
static int bad_ag_copy_array_into(site_inputs *in) {
    (void)ag_copy_array_into(in->x, (const float[]){1, 2}, AG_F32, 2); return __LINE__;
}
static int bad_ag_from_i64(site_inputs *in) {
    (void)in;
    (void)ag_from_i64(A, AG_SHAPE(1), ((const int64_t[]){INT64_MAX})); return __LINE__;
}
/* x does not require a gradient */
static int bad_ag_grad_buffer(site_inputs *in) {
    (void)ag_grad_buffer(in->x); return __LINE__;
}
static int bad_ag_set_grad(site_inputs *in) {
    (void)ag_set_grad(in->x, in->y); return __LINE__;
}
/* a name with a slash */
static int bad_ag_plot_save(site_inputs *in) {
    (void)in;
    const ag_plot_series s = {.y = (const double[]){1}, .n = 1};
    const ag_plot p = {.series = &s, .nseries = 1};
    (void)ag_plot_save(&p, ".", "a/b", NULL); return __LINE__;
}
static int bad_ag_plot_render(site_inputs *in) {
    (void)in;
    (void)ag_plot_render(".", NULL, NULL); return __LINE__;
}
static int bad_ag_copy(site_inputs *in) {
    (void)ag_copy(NULL, in->x); return __LINE__;
}
static int bad_ag_rand(site_inputs *in) {
    (void)in;
    (void)ag_rand(A, NULL, AG_F32, AG_SHAPE(2), 0.0, 1.0); return __LINE__;
}
static int bad_ag_randn(site_inputs *in) {
    (void)in;
    (void)ag_randn(A, NULL, AG_F32, AG_SHAPE(2), 0.0, 1.0); return __LINE__;
}
static int bad_ag_get(site_inputs *in) {
    (void)ag_get(in->x, (const int64_t[]){2, 0}); return __LINE__;
}
static int bad_ag_set(site_inputs *in) {
    ag_set(in->x, (const int64_t[]){0, 3}, 1.0); return __LINE__;
}
static int bad_ag_get_flat(site_inputs *in) {
    (void)ag_get_flat(in->x, 6); return __LINE__;
}
static int bad_ag_set_flat(site_inputs *in) {
    ag_set_flat(in->x, -1, 1.0); return __LINE__;
}
static int bad_ag_item(site_inputs *in) {
    (void)ag_item(in->x); return __LINE__;
}

/* ---- engine and gradcheck ---------------------------------------------------- */
static int bad_ag_set_requires_grad(site_inputs *in) {
    ag_set_requires_grad(in->ids, true); return __LINE__;
}
static int bad_ag_backward(site_inputs *in) {
    (void)ag_backward(in->x, NULL); return __LINE__;
}
static int bad_ag_backward_from(site_inputs *in) {
    (void)ag_backward_from(in->x, in->y); return __LINE__;
}
static int bad_ag_backward_hooked(site_inputs *in) {
    (void)ag_backward_hooked(in->x, NULL, NULL, NULL); return __LINE__;
}
static int bad_ag_backward_create_graph(site_inputs *in) {
    (void)ag_backward_create_graph(in->x, NULL); return __LINE__;
}
/* x requires no gradient */
static int bad_ag_grad(site_inputs *in) {
    ag_tensor *g;
    (void)ag_grad(1, &in->x, NULL, 1, &in->x, &g, false); return __LINE__;
}
static int bad_ag_gradgradcheck(site_inputs *in) {
    (void)ag_gradgradcheck(NULL, 1, &in->x, NULL, NULL, NULL); return __LINE__;
}
static int bad_ag_detach(site_inputs *in) {
    (void)ag_detach(NULL, in->x); return __LINE__;
}
/* no loss function */
static int bad_ag_gradcheck_params(site_inputs *in) {
    (void)ag_gradcheck_params(NULL, NULL, 1, &in->x, NULL, NULL, NULL); return __LINE__;
}
static int bad_ag_gradcheck(site_inputs *in) {
    (void)ag_gradcheck(NULL, 1, &in->x, NULL, NULL, NULL); return __LINE__;
}

/* ---- binary: [2,3] with [4,5] does not broadcast ----------------------------- */
static int bad_ag_add(site_inputs *in) {
    (void)ag_add(A, in->x, in->y); return __LINE__;
}
static int bad_ag_sub(site_inputs *in) {
    (void)ag_sub(A, in->x, in->y); return __LINE__;
}
static int bad_ag_mul(site_inputs *in) {
    (void)ag_mul(A, in->x, in->y); return __LINE__;
}
static int bad_ag_div(site_inputs *in) {
    (void)ag_div(A, in->x, in->y); return __LINE__;
}
static int bad_ag_maximum(site_inputs *in) {
    (void)ag_maximum(A, in->x, in->y); return __LINE__;
}
static int bad_ag_minimum(site_inputs *in) {
    (void)ag_minimum(A, in->x, in->y); return __LINE__;
}

/* ---- with a scalar, and unary: i32 is not a float dtype ---------------------- */
static int bad_ag_add_scalar(site_inputs *in) {
    (void)ag_add_scalar(A, in->ids, 1.0); return __LINE__;
}
static int bad_ag_sub_scalar(site_inputs *in) {
    (void)ag_sub_scalar(A, in->ids, 1.0); return __LINE__;
}
static int bad_ag_rsub_scalar(site_inputs *in) {
    (void)ag_rsub_scalar(A, 1.0, in->ids); return __LINE__;
}
static int bad_ag_mul_scalar(site_inputs *in) {
    (void)ag_mul_scalar(A, in->ids, 2.0); return __LINE__;
}
static int bad_ag_div_scalar(site_inputs *in) {
    (void)ag_div_scalar(A, in->ids, 2.0); return __LINE__;
}
static int bad_ag_rdiv_scalar(site_inputs *in) {
    (void)ag_rdiv_scalar(A, 2.0, in->ids); return __LINE__;
}
static int bad_ag_neg(site_inputs *in) {
    (void)ag_neg(A, in->ids); return __LINE__;
}
static int bad_ag_exp(site_inputs *in) {
    (void)ag_exp(A, in->ids); return __LINE__;
}
static int bad_ag_log(site_inputs *in) {
    (void)ag_log(A, in->ids); return __LINE__;
}
static int bad_ag_sqrt(site_inputs *in) {
    (void)ag_sqrt(A, in->ids); return __LINE__;
}
static int bad_ag_rsqrt(site_inputs *in) {
    (void)ag_rsqrt(A, in->ids); return __LINE__;
}
static int bad_ag_pow(site_inputs *in) {
    (void)ag_pow(A, in->ids, 2.0); return __LINE__;
}
static int bad_ag_abs(site_inputs *in) {
    (void)ag_abs(A, in->ids); return __LINE__;
}
static int bad_ag_square(site_inputs *in) {
    (void)ag_square(A, in->ids); return __LINE__;
}
static int bad_ag_tanh(site_inputs *in) {
    (void)ag_tanh(A, in->ids); return __LINE__;
}
static int bad_ag_sigmoid(site_inputs *in) {
    (void)ag_sigmoid(A, in->ids); return __LINE__;
}
static int bad_ag_relu(site_inputs *in) {
    (void)ag_relu(A, in->ids); return __LINE__;
}
static int bad_ag_gelu(site_inputs *in) {
    (void)ag_gelu(A, in->ids); return __LINE__;
}
static int bad_ag_gelu_tanh(site_inputs *in) {
    (void)ag_gelu_tanh(A, in->ids); return __LINE__;
}
static int bad_ag_silu(site_inputs *in) {
    (void)ag_silu(A, in->ids); return __LINE__;
}

/* ---- the unary ops added for PyTorch users: an i32 input or a bad parameter -- */
static int bad_ag_sin(site_inputs *in) {
    (void)ag_sin(A, in->ids); return __LINE__;
}
static int bad_ag_cos(site_inputs *in) {
    (void)ag_cos(A, in->ids); return __LINE__;
}
static int bad_ag_log1p(site_inputs *in) {
    (void)ag_log1p(A, in->ids); return __LINE__;
}
static int bad_ag_expm1(site_inputs *in) {
    (void)ag_expm1(A, in->ids); return __LINE__;
}
static int bad_ag_erf(site_inputs *in) {
    (void)ag_erf(A, in->ids); return __LINE__;
}
static int bad_ag_log_sigmoid(site_inputs *in) {
    (void)ag_log_sigmoid(A, in->ids); return __LINE__;
}
static int bad_ag_softplus(site_inputs *in) {
    (void)ag_softplus(A, in->x, 0.0, 20.0); return __LINE__;
}
static int bad_ag_leaky_relu(site_inputs *in) {
    (void)ag_leaky_relu(A, in->ids, 0.01); return __LINE__;
}
static int bad_ag_elu(site_inputs *in) {
    (void)ag_elu(A, in->x, NAN); return __LINE__;
}
static int bad_ag_clamp(site_inputs *in) {
    (void)ag_clamp(A, in->x, NAN, 1.0); return __LINE__;
}
static int bad_ag_clamp_min(site_inputs *in) {
    (void)ag_clamp_min(A, in->ids, 0.0); return __LINE__;
}
static int bad_ag_clamp_max(site_inputs *in) {
    (void)ag_clamp_max(A, in->x, NAN); return __LINE__;
}

/* ---- reductions, softmax: dim 5 of a 2-d tensor ------------------------------ */
static int bad_ag_sum(site_inputs *in) {
    (void)ag_sum(A, in->x, AG_DIMS(5), false); return __LINE__;
}
static int bad_ag_mean(site_inputs *in) {
    (void)ag_mean(A, in->x, AG_DIMS(5), false); return __LINE__;
}
static int bad_ag_max(site_inputs *in) {
    (void)ag_max(A, in->x, AG_DIMS(5), false); return __LINE__;
}
static int bad_ag_var(site_inputs *in) {
    (void)ag_var(A, in->x, AG_DIMS(5), 1, false); return __LINE__;
}
static int bad_ag_argmax(site_inputs *in) {
    (void)ag_argmax(A, in->x, 5, false); return __LINE__;
}
static int bad_ag_softmax(site_inputs *in) {
    (void)ag_softmax(A, in->x, 5); return __LINE__;
}
static int bad_ag_log_softmax(site_inputs *in) {
    (void)ag_log_softmax(A, in->x, 5); return __LINE__;
}

/* n_head 4 does not divide C = 3 */
static int bad_ag_causal_attention(site_inputs *in) {
    (void)ag_causal_attention(A, in->x, in->x, in->x, 4); return __LINE__;
}

/* ---- matmul, shape, indexing, losses, cast ----------------------------------- */
static int bad_ag_matmul(site_inputs *in) {
    (void)ag_matmul(A, in->x, in->y); return __LINE__;
}
static int bad_ag_reshape(site_inputs *in) {
    (void)ag_reshape(A, in->x, AG_SHAPE(4, 4)); return __LINE__;
}
static int bad_ag_unsqueeze(site_inputs *in) {
    (void)ag_unsqueeze(A, in->x, 5); return __LINE__;
}
static int bad_ag_squeeze(site_inputs *in) {
    (void)ag_squeeze(A, in->x, 5); return __LINE__;
}
static int bad_ag_transpose(site_inputs *in) {
    (void)ag_transpose(A, in->x, 0, 5); return __LINE__;
}
static int bad_ag_permute(site_inputs *in) {
    (void)ag_permute(A, in->x, (const int[]){0, 0}); return __LINE__;
}
static int bad_ag_narrow(site_inputs *in) {
    (void)ag_narrow(A, in->x, 1, 2, 5); return __LINE__;
}
static int bad_ag_slice(site_inputs *in) {
    (void)ag_slice(A, in->x, 1, 0, 3, 0); return __LINE__;
}
static int bad_ag_concat(site_inputs *in) {
    (void)ag_concat(A, 2, (ag_tensor *const[]){in->x, in->y}, 0); return __LINE__;
}
static int bad_ag_expand(site_inputs *in) {
    (void)ag_expand(A, in->x, AG_SHAPE(4, 5)); return __LINE__;
}
static int bad_ag_clone(site_inputs *in) {
    (void)ag_clone(NULL, in->x); return __LINE__;
}
static int bad_ag_index_select(site_inputs *in) {
    (void)ag_index_select(A, in->x, 0, in->x); return __LINE__;
}
static int bad_ag_embedding(site_inputs *in) {
    (void)ag_embedding(A, in->x, in->x); return __LINE__;
}
static int bad_ag_gather(site_inputs *in) {
    (void)ag_gather(A, in->x, 0, in->x); return __LINE__;
}
static int bad_ag_masked_fill(site_inputs *in) {
    (void)ag_masked_fill(A, in->x, in->y, 0.0); return __LINE__;
}
static int bad_ag_where(site_inputs *in) {
    (void)ag_where(A, in->x, in->x, in->y); return __LINE__;
}
static int bad_ag_cross_entropy(site_inputs *in) {
    (void)ag_cross_entropy(A, in->x, in->x, -100); return __LINE__;
}
static int bad_ag_mse_loss(site_inputs *in) {
    (void)ag_mse_loss(A, in->x, in->y); return __LINE__;
}
static int bad_ag_where_scalar(site_inputs *in) {
    (void)ag_where_scalar(A, in->x, in->y, 0.0); return __LINE__;
}
static int bad_ag_where_scalar_a(site_inputs *in) {
    (void)ag_where_scalar_a(A, in->x, 0.0, in->y); return __LINE__;
}
static int bad_ag_mse_loss_ex(site_inputs *in) {
    (void)ag_mse_loss_ex(A, in->x, in->y, AG_REDUCE_SUM); return __LINE__;
}
static int bad_ag_l1_loss(site_inputs *in) {
    (void)ag_l1_loss(A, in->x, in->y, AG_REDUCE_SUM); return __LINE__;
}
static int bad_ag_smooth_l1_loss(site_inputs *in) {
    (void)ag_smooth_l1_loss(A, in->x, in->x, AG_REDUCE_SUM, -1.0); return __LINE__;
}
static int bad_ag_huber_loss(site_inputs *in) {
    (void)ag_huber_loss(A, in->x, in->x, AG_REDUCE_SUM, 0.0); return __LINE__;
}
static int bad_ag_binary_cross_entropy_with_logits(site_inputs *in) {
    (void)ag_binary_cross_entropy_with_logits(A, in->x, in->y, NULL); return __LINE__;
}
static int bad_ag_nll_loss(site_inputs *in) {
    (void)ag_nll_loss(A, in->x, in->x, NULL); return __LINE__;
}
static int bad_ag_cross_entropy_ex(site_inputs *in) {
    const ag_cross_entropy_opts o = {.ignore_index = -100, .label_smoothing = 2};
    (void)ag_cross_entropy_ex(A, in->x, in->ids, &o); return __LINE__;
}
static int bad_ag_cast(site_inputs *in) {
    (void)ag_cast(A, in->x, (ag_dtype)7); return __LINE__;
}

/* no loss function */
static int bad_ag_hvp(site_inputs *in) {
    ag_tensor *hv;
    (void)ag_hvp(A, NULL, NULL, 1, &in->x, &in->x, &hv); return __LINE__;
}
static int bad_ag_hessian_top_eig(site_inputs *in) {
    ag_hessian_eig_result r;
    (void)ag_hessian_top_eig(NULL, NULL, 1, &in->x, NULL, &r); return __LINE__;
}

/* flags that ask for nothing; NULL profiles */
static int bad_ag_profile_new(site_inputs *in) {
    (void)in;
    (void)ag_profile_new(0); return __LINE__;
}
static int bad_ag_profile_begin(site_inputs *in) {
    (void)in;
    (void)ag_profile_begin(NULL); return __LINE__;
}
static int bad_ag_profile_end(site_inputs *in) {
    (void)in;
    (void)ag_profile_end(NULL); return __LINE__;
}
static int bad_ag_profile_gemm_replay(site_inputs *in) {
    (void)in;
    (void)ag_profile_gemm_replay(NULL, 1); return __LINE__;
}

const site_case site_cases_core[] = {
    SITE_CASE(ag_arena_new),   SITE_CASE(ag_arena_alloc), SITE_CASE(ag_arena_calloc),
    SITE_CASE(ag_empty),       SITE_CASE(ag_zeros),       SITE_CASE(ag_ones),
    SITE_CASE(ag_full),        SITE_CASE(ag_scalar),      SITE_CASE(ag_arange),
    SITE_CASE(ag_from_array),  SITE_CASE(ag_from_f64),    SITE_CASE(ag_copy),
    SITE_CASE(ag_copy_into),   SITE_CASE(ag_copy_array_into),
    SITE_CASE(ag_from_i64),    SITE_CASE(ag_grad_buffer), SITE_CASE(ag_set_grad),
    SITE_CASE(ag_plot_save),   SITE_CASE(ag_plot_render),
    SITE_CASE(ag_profile_new), SITE_CASE(ag_profile_begin), SITE_CASE(ag_profile_end),
    SITE_CASE(ag_profile_gemm_replay),
    SITE_CASE(ag_rand),        SITE_CASE(ag_randn),       SITE_CASE(ag_get),
    SITE_CASE(ag_set),         SITE_CASE(ag_get_flat),    SITE_CASE(ag_set_flat),
    SITE_CASE(ag_item),        SITE_CASE(ag_set_requires_grad), SITE_CASE(ag_backward),
    SITE_CASE(ag_backward_from), SITE_CASE(ag_backward_hooked),
    SITE_CASE(ag_backward_create_graph), SITE_CASE(ag_grad), SITE_CASE(ag_gradgradcheck),
    SITE_CASE(ag_detach),      SITE_CASE(ag_gradcheck),   SITE_CASE(ag_gradcheck_params),
    SITE_CASE(ag_add),
    SITE_CASE(ag_sub),         SITE_CASE(ag_mul),         SITE_CASE(ag_div),
    SITE_CASE(ag_maximum),     SITE_CASE(ag_minimum),     SITE_CASE(ag_add_scalar),
    SITE_CASE(ag_sub_scalar),  SITE_CASE(ag_rsub_scalar), SITE_CASE(ag_mul_scalar),
    SITE_CASE(ag_div_scalar),  SITE_CASE(ag_rdiv_scalar), SITE_CASE(ag_neg),
    SITE_CASE(ag_exp),         SITE_CASE(ag_log),         SITE_CASE(ag_sqrt),
    SITE_CASE(ag_rsqrt),       SITE_CASE(ag_pow),         SITE_CASE(ag_abs),
    SITE_CASE(ag_square),      SITE_CASE(ag_tanh),        SITE_CASE(ag_sigmoid),
    SITE_CASE(ag_relu),        SITE_CASE(ag_gelu),        SITE_CASE(ag_gelu_tanh),
    SITE_CASE(ag_silu),        SITE_CASE(ag_sum),         SITE_CASE(ag_mean),
    SITE_CASE(ag_max),         SITE_CASE(ag_var),         SITE_CASE(ag_argmax),
    SITE_CASE(ag_softmax),     SITE_CASE(ag_log_softmax), SITE_CASE(ag_matmul),
    SITE_CASE(ag_causal_attention),
    SITE_CASE(ag_reshape),     SITE_CASE(ag_unsqueeze),   SITE_CASE(ag_squeeze),
    SITE_CASE(ag_transpose),   SITE_CASE(ag_permute),     SITE_CASE(ag_narrow),
    SITE_CASE(ag_slice),       SITE_CASE(ag_concat),      SITE_CASE(ag_expand),
    SITE_CASE(ag_clone),       SITE_CASE(ag_index_select), SITE_CASE(ag_embedding),
    SITE_CASE(ag_gather),      SITE_CASE(ag_masked_fill), SITE_CASE(ag_where),
    SITE_CASE(ag_cross_entropy), SITE_CASE(ag_mse_loss), SITE_CASE(ag_cast),
    SITE_CASE(ag_sin),         SITE_CASE(ag_cos),         SITE_CASE(ag_log1p),
    SITE_CASE(ag_expm1),       SITE_CASE(ag_erf),         SITE_CASE(ag_log_sigmoid),
    SITE_CASE(ag_softplus),    SITE_CASE(ag_leaky_relu),  SITE_CASE(ag_elu),
    SITE_CASE(ag_clamp),       SITE_CASE(ag_clamp_min),   SITE_CASE(ag_clamp_max),
    SITE_CASE(ag_where_scalar), SITE_CASE(ag_where_scalar_a), SITE_CASE(ag_mse_loss_ex),
    SITE_CASE(ag_l1_loss),     SITE_CASE(ag_smooth_l1_loss), SITE_CASE(ag_huber_loss),
    SITE_CASE(ag_binary_cross_entropy_with_logits), SITE_CASE(ag_nll_loss),
    SITE_CASE(ag_cross_entropy_ex),
    SITE_CASE(ag_hvp),         SITE_CASE(ag_hessian_top_eig),
};
const int n_site_cases_core = (int)(sizeof site_cases_core / sizeof site_cases_core[0]);
