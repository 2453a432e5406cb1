/* tests/errors/sites_nn.c — the call-site rows for nn and optim: layers,
 * init, modules, norms, the registry, blocks, optimizers, clipping and
 * schedules. Each case makes one failing call (a bad input by the
 * function's contract) on the line it returns; call_sites.c runs them.
 * Modules a case needs are made first, on lines of their own. */
#include <stdint.h>

#include "errors_test.h"

/* ---- layers and init ------------------------------------------------------- */
static int bad_ag_activate(site_inputs *in) {
    (void)ag_activate(A, in->x, (ag_activation)99); return __LINE__;
}
static int bad_ag_dropout(site_inputs *in) {
    (void)ag_dropout(A, in->x, 1.5, true, &in->rng); return __LINE__;
}
/* x [2,3] with weight [4,5]: x must end in 5 */
static int bad_ag_linear(site_inputs *in) {
    (void)ag_linear(A, in->x, in->y, NULL); return __LINE__;
}
static int bad_ag_linear_add(site_inputs *in) {
    ag_tensor *w = ag_ones(A, AG_F32, AG_SHAPE(4, 3)); /* x w^T is [2,4]; r [4,5] is not */
    (void)ag_linear_add(A, in->x, w, NULL, in->y); return __LINE__;
}
static int bad_ag_nn_linear_new(site_inputs *in) {
    (void)ag_nn_linear_new(NULL, &in->rng, 3, 2, true); return __LINE__;
}
static int bad_ag_nn_linear_forward(site_inputs *in) {
    (void)ag_nn_linear_forward(A, in->lin, in->y); return __LINE__;
}
static int bad_ag_nn_embedding_new(site_inputs *in) {
    (void)ag_nn_embedding_new(NULL, &in->rng, 4, 2); return __LINE__;
}
/* f32 ids */
static int bad_ag_nn_embedding_forward(site_inputs *in) {
    ag_nn_embedding *e = ag_nn_embedding_new(A, &in->rng, 4, 2);
    ck_assert_ptr_nonnull(e);
    (void)ag_nn_embedding_forward(A, e, in->x); return __LINE__;
}
static int bad_ag_nn_dropout_new(site_inputs *in) {
    (void)in;
    (void)ag_nn_dropout_new(NULL, 0.1, 1); return __LINE__;
}
/* i32 input in training mode */
static int bad_ag_nn_dropout_forward(site_inputs *in) {
    ag_nn_dropout *d = ag_nn_dropout_new(A, 0.1, 1);
    ck_assert_ptr_nonnull(d);
    (void)ag_nn_dropout_forward(A, d, in->ids); return __LINE__;
}
/* no generator in training mode */
static int bad_ag_nn_dropout_forward_rng(site_inputs *in) {
    ag_nn_dropout *d = ag_nn_dropout_new(A, 0.1, 1);
    ck_assert_ptr_nonnull(d);
    (void)ag_nn_dropout_forward_rng(A, d, in->x, NULL); return __LINE__;
}
/* init: i32 tensors, bounds the wrong way, a negative std, no generator */
static int bad_ag_init_constant(site_inputs *in) {
    (void)ag_init_constant(in->ids, 1.0); return __LINE__;
}
static int bad_ag_init_ones(site_inputs *in) {
    (void)ag_init_ones(in->ids); return __LINE__;
}
static int bad_ag_init_zeros(site_inputs *in) {
    (void)ag_init_zeros(in->ids); return __LINE__;
}
static int bad_ag_init_uniform(site_inputs *in) {
    (void)ag_init_uniform(in->x, &in->rng, 1.0, 0.0); return __LINE__;
}
static int bad_ag_init_normal(site_inputs *in) {
    (void)ag_init_normal(in->x, &in->rng, 0.0, -1.0); return __LINE__;
}
static int bad_ag_init_kaiming_uniform(site_inputs *in) {
    (void)ag_init_kaiming_uniform(in->ids, &in->rng, 0.0); return __LINE__;
}
static int bad_ag_init_post_norm(site_inputs *in) {
    (void)ag_init_post_norm(in->x, NULL); return __LINE__;
}

/* ---- modules and the registry ---------------------------------------------- */
static int bad_ag_module_add_param(site_inputs *in) {
    (void)ag_module_add_param(&in->list->base, "a.b", in->x); return __LINE__;
}
static int bad_ag_module_add_child(site_inputs *in) {
    (void)ag_module_add_child(&in->list->base, "child", NULL); return __LINE__;
}
/* a list has no forward */
static int bad_ag_module_forward(site_inputs *in) {
    (void)ag_module_forward(&in->list->base, A, in->x); return __LINE__;
}
static int bad_ag_module_parameters(site_inputs *in) {
    ag_named_param *ps;
    (void)ag_module_parameters(&in->lin->base, NULL, &ps); return __LINE__;
}
static int bad_ag_module_cast(site_inputs *in) {
    (void)ag_module_cast(&in->lin->base, AG_I32); return __LINE__;
}
static int bad_ag_module_list_new(site_inputs *in) {
    (void)in;
    (void)ag_module_list_new(NULL); return __LINE__;
}
static int bad_ag_module_list_append(site_inputs *in) {
    (void)ag_module_list_append(in->list, NULL); return __LINE__;
}
static int bad_ag_nn_activation_new(site_inputs *in) {
    (void)in;
    (void)ag_nn_activation_new(A, (ag_activation)-1); return __LINE__;
}
static int bad_ag_nn_sequential_new(site_inputs *in) {
    (void)in;
    (void)ag_nn_sequential_new(NULL); return __LINE__;
}
static int bad_ag_nn_sequential_append(site_inputs *in) {
    (void)in;
    ag_nn_sequential *s = ag_nn_sequential_new(A);
    ck_assert_ptr_nonnull(s);
    (void)ag_nn_sequential_append(s, NULL); return __LINE__;
}
static int bad_ag_nn_sequential_of(site_inputs *in) {
    (void)in;
    (void)ag_nn_sequential_of(A, NULL, 1); return __LINE__;
}
/* a ModuleList child has no forward */
static int bad_ag_nn_sequential_forward(site_inputs *in) {
    ag_nn_sequential *s = ag_nn_sequential_of(A, (ag_module *[]){&in->list->base}, 1);
    ck_assert_ptr_nonnull(s);
    (void)ag_nn_sequential_forward(A, s, in->x); return __LINE__;
}
static int bad_ag_norm_register(site_inputs *in) {
    (void)in;
    (void)ag_norm_register(NULL); return __LINE__;
}
static int bad_ag_decay_groups(site_inputs *in) {
    (void)ag_decay_groups(&in->lin->base, NULL); return __LINE__;
}

/* ---- norms: normalized_shape [4] does not match x's last dim 3 -------------- */
static int bad_ag_rms_norm(site_inputs *in) {
    (void)ag_rms_norm(A, in->x, AG_SHAPE(4), NULL, 1e-6, 0); return __LINE__;
}
static int bad_ag_rms_norm_composed(site_inputs *in) {
    (void)ag_rms_norm_composed(A, in->x, AG_SHAPE(4), NULL, 1e-6); return __LINE__;
}
static int bad_ag_layer_norm(site_inputs *in) {
    (void)ag_layer_norm(A, in->x, AG_SHAPE(4), NULL, NULL, 1e-5); return __LINE__;
}
static int bad_ag_nn_layernorm_new(site_inputs *in) {
    (void)in;
    (void)ag_nn_layernorm_new(NULL, AG_SHAPE(3), 1e-5, true, true); return __LINE__;
}
static int bad_ag_nn_layernorm_forward(site_inputs *in) {
    ag_nn_layernorm *m = ag_nn_layernorm_new(A, AG_SHAPE(3), 1e-5, true, true);
    ck_assert_ptr_nonnull(m);
    (void)ag_nn_layernorm_forward(A, m, in->y); return __LINE__;
}
static int bad_ag_nn_rmsnorm_new(site_inputs *in) {
    (void)in;
    (void)ag_nn_rmsnorm_new(NULL, AG_RMSNORM, AG_SHAPE(3), AG_EPS_DEFAULT, true); return __LINE__;
}
static int bad_ag_nn_rmsnorm_forward(site_inputs *in) {
    ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(A, AG_RMSNORM_LLAMA, AG_SHAPE(3), AG_EPS_DEFAULT, true);
    ck_assert_ptr_nonnull(m);
    (void)ag_nn_rmsnorm_forward(A, m, in->y); return __LINE__;
}
static int bad_ag_rmsnorm_type(site_inputs *in) {
    (void)in;
    (void)ag_rmsnorm_type((ag_rmsnorm_kind)99); return __LINE__;
}
static int bad_ag_rmsnorm_default_eps(site_inputs *in) {
    (void)in;
    (void)ag_rmsnorm_default_eps((ag_rmsnorm_kind)99); return __LINE__;
}
static int bad_ag_norm_new(site_inputs *in) {
    (void)in;
    (void)ag_norm_new(NULL, (ag_norm_choice)AG_NORM_LAYERNORM, 4); return __LINE__;
}

/* ---- blocks: made for n_embd 4, given x [2,3] -------------------------------- */
static int bad_ag_nn_attention_new(site_inputs *in) {
    (void)ag_nn_attention_new(NULL, &in->rng, 4, 2, false, 0.0); return __LINE__;
}
static int bad_ag_nn_attention_forward(site_inputs *in) {
    ag_nn_attention *m = ag_nn_attention_new(A, &in->rng, 4, 2, false, 0.0);
    ck_assert_ptr_nonnull(m);
    (void)ag_nn_attention_forward(A, m, in->x); return __LINE__;
}
static int bad_ag_nn_mlp_new(site_inputs *in) {
    (void)ag_nn_mlp_new(NULL, &in->rng, 4, 8, AG_ACT_GELU, false, 0.0); return __LINE__;
}
static int bad_ag_nn_mlp_forward(site_inputs *in) {
    ag_nn_mlp *m = ag_nn_mlp_new(A, &in->rng, 4, 8, AG_ACT_GELU, false, 0.0);
    ck_assert_ptr_nonnull(m);
    (void)ag_nn_mlp_forward(A, m, in->x); return __LINE__;
}
static int bad_ag_nn_block_new(site_inputs *in) {
    (void)ag_nn_block_new(A, &in->rng, NULL); return __LINE__;
}
static int bad_ag_nn_block_forward(site_inputs *in) {
    const ag_block_config c = {.n_embd = 4, .n_head = 2, .norm = AG_NORM_LAYERNORM};
    ag_nn_block *m = ag_nn_block_new(A, &in->rng, &c);
    ck_assert_ptr_nonnull(m);
    (void)ag_nn_block_forward(A, m, in->x); return __LINE__;
}

/* ---- optim ------------------------------------------------------------------- */
static int bad_ag_optim_groups_of_module(site_inputs *in) {
    (void)ag_optim_groups_of_module(&in->lin->base, NULL); return __LINE__;
}
static int bad_ag_optim_groups_from_model(site_inputs *in) {
    (void)ag_optim_groups_from_model(&in->lin->base, NULL, 1e-3, 0.1); return __LINE__;
}
static int bad_ag_adamw_new(site_inputs *in) {
    (void)ag_adamw_new(NULL, ag_optim_groups_one(&in->group), NULL); return __LINE__;
}
static int bad_ag_adam_new(site_inputs *in) {
    (void)ag_adam_new(NULL, ag_optim_groups_one(&in->group), NULL); return __LINE__;
}
/* no buffers at all */
static int bad_ag_layer_norm_ref_forward(site_inputs *in) {
    (void)in;
    (void)ag_layer_norm_ref_forward(NULL); return __LINE__;
}
static int bad_ag_layer_norm_ref_backward(site_inputs *in) {
    (void)in;
    (void)ag_layer_norm_ref_backward(NULL); return __LINE__;
}
static int bad_ag_rmsprop_new(site_inputs *in) {
    (void)ag_rmsprop_new(NULL, ag_optim_groups_one(&in->group), NULL); return __LINE__;
}
static int bad_ag_adagrad_new(site_inputs *in) {
    (void)ag_adagrad_new(NULL, ag_optim_groups_one(&in->group), NULL); return __LINE__;
}
/* no optimizer type */
static int bad_ag_optim_new(site_inputs *in) {
    (void)ag_optim_new(A, NULL, NULL, ag_optim_groups_one(&in->group), 1e-3, 0.0); return __LINE__;
}
static int bad_ag_norm_register_make(site_inputs *in) {
    (void)in;
    (void)ag_norm_register_make(&ag_nn_layernorm_type, NULL); return __LINE__;
}
/* no loss function */
static int bad_ag_gradcheck_module(site_inputs *in) {
    (void)ag_gradcheck_module(&in->lin->base, NULL, NULL, NULL, NULL); return __LINE__;
}
static int bad_ag_sgd_new(site_inputs *in) {
    (void)ag_sgd_new(NULL, ag_optim_groups_one(&in->group), NULL); return __LINE__;
}
/* an f64 gradient for an f32 parameter does not fit it */
static int bad_ag_optim_step(site_inputs *in) {
    ag_tensor *w = in->lin->weight;
    w->grad = ag_zeros(A, AG_F64, w->ndim, w->shape);
    ck_assert_ptr_nonnull(w->grad);
    (void)ag_optim_step(in->opt); return __LINE__;
}
static int bad_ag_optim_set_lr(site_inputs *in) {
    (void)ag_optim_set_lr(in->opt, -1.0); return __LINE__;
}
static int bad_ag_clip_grad_norm(site_inputs *in) {
    (void)ag_clip_grad_norm(&in->x, 1, -1.0, false); return __LINE__;
}
static int bad_ag_optim_clip_grad_norm(site_inputs *in) {
    (void)ag_optim_clip_grad_norm(in->opt, -1.0, false); return __LINE__;
}
static int bad_ag_clip_grad_value(site_inputs *in) {
    (void)ag_clip_grad_value(&in->x, 1, -1.0); return __LINE__;
}
static int bad_ag_optim_clip_grad_value(site_inputs *in) {
    (void)ag_optim_clip_grad_value(in->opt, -1.0); return __LINE__;
}
static int bad_ag_schedule_factor(site_inputs *in) {
    (void)in;
    const ag_schedule s = ag_schedule_constant();
    (void)ag_schedule_factor(&s, -1); return __LINE__;
}
static int bad_ag_schedule_apply(site_inputs *in) {
    const ag_schedule s = ag_schedule_constant();
    (void)ag_schedule_apply(&s, in->opt, -1); return __LINE__;
}

static int bad_ag_module_new(site_inputs *in) {
    (void)in;
    (void)ag_module_new(A, 1, &ag_nn_sequential_type); return __LINE__;
}
static int bad_ag_module_new_param(site_inputs *in) {
    (void)ag_module_new_param(&in->list->base, "a.b", in->x); return __LINE__;
}
static int bad_ag_module_set_attr(site_inputs *in) {
    (void)ag_module_set_attr(&in->lin->base, "a.b", 1.0); return __LINE__;
}
static int bad_ag_module_attr(site_inputs *in) {
    (void)ag_module_attr(&in->lin->base, "nothing"); return __LINE__;
}
static int bad_ag_module_check_last_dim(site_inputs *in) {
    (void)ag_module_check_last_dim(&in->lin->base, in->x, 5); return __LINE__;
}
static int bad_ag_module_gc_inputs(site_inputs *in) {
    (void)ag_module_gc_inputs(&in->lin->base, in->x, (ag_tensor *[16]){0}); return __LINE__;
}
static int bad_ag_module_save(site_inputs *in) {
    (void)ag_module_save(&in->lin->base, NULL, NULL, NULL); return __LINE__;
}
static int bad_ag_module_load(site_inputs *in) {
    (void)ag_module_load(&in->lin->base, "no/such/dir/m.safetensors", NULL, NULL); return __LINE__;
}
static int bad_ag_module_load_file(site_inputs *in) {
    (void)ag_module_load_file(&in->lin->base, NULL, NULL, NULL); return __LINE__;
}

const site_case site_cases_nn[] = {
    SITE_CASE(ag_activate),         SITE_CASE(ag_dropout),
    SITE_CASE(ag_linear),           SITE_CASE(ag_linear_add),
    SITE_CASE(ag_nn_linear_new),
    SITE_CASE(ag_nn_linear_forward), SITE_CASE(ag_nn_embedding_new),
    SITE_CASE(ag_nn_embedding_forward), SITE_CASE(ag_nn_dropout_new),
    SITE_CASE(ag_nn_dropout_forward), SITE_CASE(ag_nn_dropout_forward_rng),
    SITE_CASE(ag_init_constant),
    SITE_CASE(ag_init_ones),        SITE_CASE(ag_init_zeros),
    SITE_CASE(ag_init_uniform),     SITE_CASE(ag_init_normal),
    SITE_CASE(ag_init_kaiming_uniform), SITE_CASE(ag_init_post_norm),
    SITE_CASE(ag_module_add_param), SITE_CASE(ag_module_add_child),
    SITE_CASE(ag_module_forward),   SITE_CASE(ag_module_parameters),
    SITE_CASE(ag_module_cast),      SITE_CASE(ag_module_list_new),
    SITE_CASE(ag_module_list_append), SITE_CASE(ag_norm_register),
    SITE_CASE(ag_nn_activation_new), SITE_CASE(ag_nn_sequential_new),
    SITE_CASE(ag_nn_sequential_append), SITE_CASE(ag_nn_sequential_of),
    SITE_CASE(ag_nn_sequential_forward),
    SITE_CASE(ag_decay_groups),     SITE_CASE(ag_rms_norm),
    SITE_CASE(ag_rms_norm_composed), SITE_CASE(ag_layer_norm),
    SITE_CASE(ag_nn_layernorm_new), SITE_CASE(ag_nn_layernorm_forward),
    SITE_CASE(ag_nn_rmsnorm_new),   SITE_CASE(ag_nn_rmsnorm_forward),
    SITE_CASE(ag_rmsnorm_type),     SITE_CASE(ag_rmsnorm_default_eps),
    SITE_CASE(ag_norm_new),         SITE_CASE(ag_nn_attention_new),
    SITE_CASE(ag_nn_attention_forward), SITE_CASE(ag_nn_mlp_new),
    SITE_CASE(ag_nn_mlp_forward),   SITE_CASE(ag_nn_block_new),
    SITE_CASE(ag_nn_block_forward), SITE_CASE(ag_optim_groups_of_module),
    SITE_CASE(ag_optim_groups_from_model), SITE_CASE(ag_adamw_new),
    SITE_CASE(ag_rmsprop_new),      SITE_CASE(ag_adagrad_new),
    SITE_CASE(ag_optim_new),        SITE_CASE(ag_norm_register_make),
    SITE_CASE(ag_gradcheck_module), SITE_CASE(ag_layer_norm_ref_forward),
    SITE_CASE(ag_layer_norm_ref_backward),
    SITE_CASE(ag_adam_new),         SITE_CASE(ag_sgd_new),
    SITE_CASE(ag_optim_step),       SITE_CASE(ag_optim_set_lr),
    SITE_CASE(ag_clip_grad_norm),   SITE_CASE(ag_optim_clip_grad_norm),
    SITE_CASE(ag_clip_grad_value),  SITE_CASE(ag_optim_clip_grad_value),
    SITE_CASE(ag_schedule_factor),  SITE_CASE(ag_schedule_apply),
    SITE_CASE(ag_module_new),       SITE_CASE(ag_module_new_param),
    SITE_CASE(ag_module_check_last_dim), SITE_CASE(ag_module_gc_inputs),
    SITE_CASE(ag_module_set_attr),  SITE_CASE(ag_module_attr),
    SITE_CASE(ag_module_save),      SITE_CASE(ag_module_load),
    SITE_CASE(ag_module_load_file),
};
const int n_site_cases_nn = (int)(sizeof site_cases_nn / sizeof site_cases_nn[0]);
