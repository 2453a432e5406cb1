/* tests/optim/groups.c — parameter groups (per-group lr and weight decay),
 * Hugging Face Trainer's decay / no-decay groups from the norm-layer
 * registry, zero_grad, state inspection, and bad input to the
 * constructors and the step. */
#include <string.h>

#include "optim_test.h"

/* Linear(4, 4) with bias, RMSNorm(4), LayerNorm(4): parameters fc.weight,
 * fc.bias, rms.weight, ln.weight, ln.bias. */
typedef struct {
    ag_module base;
    ag_nn_linear *fc;
    ag_nn_rmsnorm *rms;
    ag_nn_layernorm *ln;
} model;

static const ag_module_type MODEL = {"Model", NULL, NULL};

static model *model_new(ag_arena *P, ag_dtype dt) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    model *m = ag_arena_calloc(P, sizeof *m);
    ag_module_init(&m->base, &MODEL, P);
    m->fc = ag_nn_linear_new(P, &r, 4, 4, true);
    m->rms = ag_nn_rmsnorm_new(P, AG_RMSNORM, AG_SHAPE(4), AG_EPS_DEFAULT, true);
    m->ln = ag_nn_layernorm_new(P, AG_SHAPE(4), 1e-5, true, true);
    ag_module_add_child(&m->base, "fc", &m->fc->base);
    ag_module_add_child(&m->base, "rms", &m->rms->base);
    ag_module_add_child(&m->base, "ln", &m->ln->base);
    if (dt != AG_F32) ag_module_cast(&m->base, dt);
    return m;
}

/* One group of n parameters (inherited lr and weight decay), in a static
 * slot: for the one-line bad calls below. */
static ag_optim_groups one(ag_tensor **params, int n) {
    static ag_optim_group g;
    g = (ag_optim_group){params, n, NAN, NAN};
    return ag_optim_groups_one(&g);
}

static bool has(const ag_optim_group *g, const ag_tensor *t) {
    for (int i = 0; i < g->nparams; i++)
        if (g->params[i] == t) return true;
    return false;
}

/* Exactly the norm parameters and the biases go to the no-decay group. */
START_TEST(test_trainer_groups) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, AG_F32);
    ag_optim_groups gs = ag_optim_groups_from_model(&m->base, P, 3e-4, 0.1);
    ck_assert_int_eq(gs.ngroups, 2);
    ck_assert_ptr_eq(gs.model, &m->base);
    const ag_optim_group *g = gs.groups;
    ck_assert_int_eq(g[0].nparams, 1);
    ck_assert(g[0].params[0] == m->fc->weight);
    ck_assert_int_eq(g[1].nparams, 4);
    ck_assert(has(&g[1], m->fc->bias) && has(&g[1], m->rms->weight));
    ck_assert(has(&g[1], m->ln->weight) && has(&g[1], m->ln->bias));
    ck_assert(g[0].lr == 3e-4 && g[1].lr == 3e-4);
    ck_assert(g[0].weight_decay == 0.1 && g[1].weight_decay == 0.0);
    ag_arena_free(P);
}
END_TEST

/* The rule the groups are built by, per named parameter: norm layers'
 * parameters and every name containing "bias" take no decay. */
START_TEST(test_no_decay_rule) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, AG_F32);
    ag_module_list *extra = ag_module_list_new(P);
    ag_tensor *w = param_of(P, AG_F32, 2, (double[]){1, 2});
    ag_module_add_param(&extra->base, "unbiased_scale", w); /* "bias" inside the name */
    ag_module_add_param(&extra->base, "scale", param_of(P, AG_F32, 1, (double[]){1}));
    ag_module_add_child(&m->base, "extra", &extra->base);
    static const struct {
        const char *name;
        bool no_decay;
    } WANT[] = {
        {"fc.weight", false}, {"fc.bias", true}, {"rms.weight", true}, {"ln.weight", true},
        {"ln.bias", true},    {"extra.unbiased_scale", true}, {"extra.scale", false},
    };
    ag_named_param *all;
    int n = ag_module_parameters(&m->base, P, &all);
    ck_assert_int_eq(n, 7);
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(all[i].name, WANT[i].name);
        ck_assert_msg(ag_param_is_no_decay(&all[i]) == WANT[i].no_decay, "%s", all[i].name);
    }
    ck_assert(!ag_param_is_no_decay(NULL));
    ag_arena_free(P);
}
END_TEST

/* Frozen parameters are left out; a parameter registered twice (tied) is
 * listed once, in the group of its first name. */
START_TEST(test_trainer_groups_frozen_and_tied) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, AG_F32);
    ag_set_requires_grad(m->ln->bias, false);
    ag_module_list *extra = ag_module_list_new(P);
    ag_module_add_param(&extra->base, "tied_bias", m->fc->weight); /* would be no-decay */
    ag_module_add_child(&m->base, "extra", &extra->base);
    ag_optim_groups gs = ag_optim_groups_from_model(&m->base, P, AG_OPTIM_INHERIT, 0.1);
    const ag_optim_group *g = gs.groups;
    ck_assert_int_eq(g[0].nparams, 1);
    ck_assert(g[0].params[0] == m->fc->weight);
    ck_assert_int_eq(g[1].nparams, 3);
    ck_assert(!has(&g[1], m->ln->bias) && !has(&g[1], m->fc->weight));
    ck_assert(isnan(g[0].lr));
    ag_optim *o = ag_adamw_new(P, gs, NULL); /* no duplicate, each in one group: accepted */
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->nparams, 4);
    ck_assert(o->groups[0].lr == 1e-3 && o->groups[1].lr == 1e-3); /* inherited */
    ag_optim_groups all = ag_optim_groups_of_module(&m->base, P);
    ck_assert_int_eq(all.ngroups, 1);
    ck_assert_int_eq(all.groups[0].nparams, 4);
    ck_assert_ptr_nonnull(ag_sgd_new(P, all, NULL));
    ag_arena_free(P);
}
END_TEST

/* The groups' weight decay in action: with zero gradients, one AdamW step
 * multiplies the decay group by exactly (1 - lr*wd) and leaves the others
 * unchanged, in f32 and in f64. */
START_TEST(test_decay_applies_per_group) {
    for (int k = 0; k < 2; k++) {
        ag_dtype dt = k ? AG_F64 : AG_F32;
        ag_arena *P = ag_arena_new(0);
        model *m = model_new(P, dt);
        ag_optim *o = ag_adamw_new(P, ag_optim_groups_from_model(&m->base, P, 0.01, 0.5), NULL);
        ag_tensor *all[] = {m->fc->weight, m->fc->bias, m->rms->weight, m->ln->weight, m->ln->bias};
        double before[5][16];
        for (int i = 0; i < 5; i++) {
            all[i]->grad = ag_zeros(P, dt, all[i]->ndim, all[i]->shape);
            for (int j = 0; j < all[i]->numel; j++) before[i][j] = ag_get_flat(all[i], j);
        }
        ck_assert(ag_optim_step(o));
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < all[i]->numel; j++) {
                double want = before[i][j];
                if (i == 0) want = dt == AG_F32 ? (double)((float)want * (float)(1 - 0.01 * 0.5))
                                                : want * (1 - 0.01 * 0.5);
                ck_assert_msg(ag_get_flat(all[i], j) == want, "param %d [%d]: %.9g, expected %.9g",
                              i, j, ag_get_flat(all[i], j), want);
            }
        ag_arena_free(P);
    }
}
END_TEST

/* Each group's lr: SGD moves each parameter by its group's lr * grad. */
START_TEST(test_group_lr) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a = param_of(P, AG_F64, 1, (double[]){1});
    ag_tensor *b = param_of(P, AG_F64, 1, (double[]){1});
    ag_tensor *c = param_of(P, AG_F64, 1, (double[]){1});
    ag_sgd_opts s = ag_sgd_defaults();
    s.lr = 0.25;
    s.weight_decay = 0.5;
    ag_optim_group g[2] = {{(ag_tensor *[]){a, c}, 2, 0.5, 0.0},
                           {&b, 1, AG_OPTIM_INHERIT, AG_OPTIM_INHERIT}};
    ag_optim *o = ag_sgd_new(P, AG_OPTIM_GROUPS(g), &s);
    ck_assert(o->groups[0].lr == 0.5 && o->groups[0].weight_decay == 0.0);
    ck_assert(o->groups[1].lr == 0.25 && o->groups[1].weight_decay == 0.5);
    ck_assert_int_eq(o->state[1].group, 0);
    ck_assert(o->state[2].param == b && o->state[2].group == 1);
    set_grad(a, (double[]){1});
    set_grad(b, (double[]){1});
    set_grad(c, (double[]){2});
    ag_optim_step(o);
    ck_assert(ag_get_flat(a, 0) == 0.5);          /* 1 - 0.5*1 */
    ck_assert(ag_get_flat(c, 0) == 0.0);          /* 1 - 0.5*2 */
    ck_assert(ag_get_flat(b, 0) == 1 - 0.25 * 1.5); /* g = 1 + 0.5*1 */
    ag_arena_free(P);
}
END_TEST

START_TEST(test_zero_grad_and_state) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, AG_F64);
    ag_sgd_opts s = ag_sgd_defaults();
    s.momentum = 0.9;
    ag_optim *o = ag_sgd_new(P, ag_optim_groups_of_module(&m->base, P), &s);
    for (int i = 0; i < o->nparams; i++) {
        ag_tensor *p = o->state[i].param;
        p->grad = ag_full(P, AG_F64, p->ndim, p->shape, 1.0);
    }
    ag_optim_step(o);
    for (int i = 0; i < o->nparams; i++) {
        const ag_optim_state *st = &o->state[i];
        ck_assert_int_eq(st->step, 1);
        ck_assert_ptr_nonnull(ag_optim_state_buffer(st, "momentum_buffer"));
        ck_assert(ag_same_shape(ag_optim_state_buffer(st, "momentum_buffer"), st->param));
        ck_assert_ptr_null(ag_optim_state_buffer(st, "exp_avg"));
    }
    ag_optim_zero_grad(o);
    for (int i = 0; i < o->nparams; i++) {
        const ag_tensor *g = o->state[i].param->grad;
        for (int j = 0; j < g->numel; j++) ck_assert(ag_get_flat(g, j) == 0.0);
    }
    ag_optim_zero_grad(NULL);
    ck_assert(!ag_optim_step(NULL));
    ag_arena_free(P);
}
END_TEST

/* ---- bad input -------------------------------------------------------------------- */

START_TEST(test_bad_adam_options) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){1});
    ag_optim_group g = ag_optim_group_of(&p, 1);
    ag_adam_opts o;
    o = ag_adamw_defaults();
    o.lr = -1e-3;
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_one(&g), &o));
    check_error("adamw_new", "learning rate -0.001", ">= 0");
    o = ag_adamw_defaults();
    o.beta1 = 1.0;
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_one(&g), &o));
    check_error("adamw_new", "beta1 1", "[0, 1)");
    o = ag_adam_defaults();
    o.beta2 = -0.1;
    expect_errors();
    ck_assert_ptr_null(ag_adam_new(P, ag_optim_groups_one(&g), &o));
    check_error("adam_new", "beta2 -0.1", NULL);
    o = ag_adamw_defaults();
    o.eps = -1;
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_one(&g), &o));
    check_error("adamw_new", "epsilon -1", NULL);
    o = ag_adamw_defaults();
    o.weight_decay = -0.01;
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_one(&g), &o));
    check_error("adamw_new", "weight_decay -0.01", NULL);
    /* a group's own value is checked too */
    ag_optim_group bad = {&p, 1, -2.0, AG_OPTIM_INHERIT};
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_one(&bad), NULL));
    check_error("adamw_new", "learning rate (group 0) -2", NULL);
    ag_arena_free(P);
}
END_TEST

START_TEST(test_bad_params) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 2, (double[]){1, 2});
    ag_tensor *q = param_of(P, AG_F64, 2, (double[]){1, 2});
    /* listed twice, across groups */
    ag_optim_group two[2] = {ag_optim_group_of((ag_tensor *[]){p, q}, 2), ag_optim_group_of(&p, 1)};
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, AG_OPTIM_GROUPS(two), NULL));
    check_error("adamw_new", "appears more than once", "[2]");
    /* not a leaf */
    ag_tensor *y = ag_mul_scalar(A, p, 2.0);
    expect_errors();
    ck_assert_ptr_null(ag_sgd_new(P, one(&y, 1), NULL));
    check_error("sgd_new", "not a leaf", "made by mul");
    /* i32 */
    ag_tensor *ids = ag_zeros(P, AG_I32, AG_SHAPE(3));
    expect_errors();
    ck_assert_ptr_null(ag_adam_new(P, one(&ids, 1), NULL));
    check_error("adam_new", "is i32", "[3]");
    /* empty */
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, one(NULL, 0), NULL));
    check_error("adamw_new", "empty parameter list", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, (ag_optim_groups){NULL, 0, NULL}, NULL));
    check_error("adamw_new", "no parameter groups", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, one(NULL, 2), NULL));
    check_error("adamw_new", "group 0 lists 2 parameters", "NULL");
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(NULL, one(&p, 1), NULL));
    check_error("adamw_new", "arena is NULL", NULL);
    /* a NULL parameter is an earlier failure: NULL, no second report */
    expect_errors();
    ag_optim_group with_null = {(ag_tensor *[]){p, NULL}, 2, NAN, NAN};
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_one(&with_null), NULL));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
    ag_arena_free(P);
}
END_TEST

/* Built from a model, every trainable parameter must be in exactly one
 * group: pass one group where the Trainer split has two, and the biases
 * and norm weights would never train; list one twice and it would be
 * stepped twice. Both are reported under the parameter's dotted name. */
START_TEST(test_model_groups_cover_every_parameter) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, AG_F32);
    ag_optim_groups gs = ag_optim_groups_from_model(&m->base, P, AG_OPTIM_INHERIT, 0.1);
    /* only the first of the two groups */
    expect_errors();
    ag_optim_groups first = {gs.groups, 1, gs.model};
    ck_assert_ptr_null(ag_adamw_new(P, first, NULL));
    check_error("adamw_new",
                "parameter 'fc.bias' [4] requires a gradient but is in none of the 1 groups",
                "ag_set_requires_grad");
    /* a parameter in two groups: fc.bias also in a third */
    ag_optim_group three[3] = {gs.groups[0], gs.groups[1], ag_optim_group_of(&m->fc->bias, 1)};
    expect_errors();
    ck_assert_ptr_null(ag_sgd_new(P, AG_OPTIM_GROUPS_OF_MODEL(&m->base, three), NULL));
    check_error("sgd_new", "parameter 'fc.bias' [4] is in groups 1 and 2",
                "exactly one group");
    /* the same list without the model: only the unnamed duplicate report */
    expect_errors();
    ck_assert_ptr_null(ag_sgd_new(P, AG_OPTIM_GROUPS(three), NULL));
    check_error("sgd_new", "appears more than once", NULL);
    /* a frozen parameter may be left out; hand-made groups that cover the
     * rest are accepted, through ag_optim_new too */
    ag_set_requires_grad(m->ln->bias, false);
    ag_tensor *w[] = {m->fc->weight}, *rest[] = {m->fc->bias, m->rms->weight, m->ln->weight};
    ag_optim_group two[2] = {ag_optim_group_of(w, 1), ag_optim_group_of(rest, 3)};
    ag_adam_opts ao = ag_adamw_defaults();
    ck_assert_ptr_nonnull(ag_optim_new(P, &ag_adamw_type, &ao,
                                       AG_OPTIM_GROUPS_OF_MODEL(&m->base, two), ao.lr,
                                       ao.weight_decay));
    /* ... but not with rms.weight left out (the second group cut to 1) */
    two[1].nparams = 1;
    expect_errors();
    ck_assert_ptr_null(ag_optim_new(P, &ag_adamw_type, &ao,
                                    AG_OPTIM_GROUPS_OF_MODEL(&m->base, two), ao.lr,
                                    ao.weight_decay));
    check_error("optim_new", "'rms.weight'", "in none of the 2 groups");
    ag_arena_free(P);
}
END_TEST

/* A failed group list (ngroups -1) makes the constructor return NULL
 * without a second report; a NULL model (an earlier failure) without any. */
START_TEST(test_failed_group_lists) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, AG_F32);
    expect_errors();
    ag_optim_groups gs = ag_optim_groups_from_model(&m->base, NULL, 0.1, 0.1);
    ck_assert_int_eq(gs.ngroups, -1);
    ck_assert_int_eq(ag_error_count(), 1);
    ck_assert_ptr_null(ag_adamw_new(P, gs, NULL));
    ck_assert_int_eq(ag_error_count(), 1);
    check_error("optim_groups_from_model", "arena is NULL", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_of_module(NULL, P), NULL));
    ck_assert_ptr_null(ag_adamw_new(P, ag_optim_groups_from_model(NULL, P, 0.1, 0.1), NULL));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(P);
}
END_TEST

/* A parameter cast after its state was made no longer fits it: reported. */
START_TEST(test_step_after_cast) {
    ag_arena *P = ag_arena_new(0);
    model *m = model_new(P, AG_F32);
    ag_optim *o = ag_adamw_new(P, ag_optim_groups_of_module(&m->base, P), NULL);
    for (int i = 0; i < o->nparams; i++) {
        ag_tensor *p = o->state[i].param;
        p->grad = ag_ones(P, p->dtype, p->ndim, p->shape);
    }
    ck_assert(ag_optim_step(o));
    ag_module_cast(&m->base, AG_F64);
    for (int i = 0; i < o->nparams; i++) {
        ag_tensor *p = o->state[i].param;
        p->grad = ag_ones(P, p->dtype, p->ndim, p->shape);
    }
    expect_errors();
    ck_assert(!ag_optim_step(o));
    check_error("optim_step", "AdamW: parameter 0", "no longer matches");
    ag_arena_free(P);
}
END_TEST

TCase *optim_groups_tcase(void) {
    TCase *tc = tcase_create("groups");
    tcase_add_test(tc, test_trainer_groups);
    tcase_add_test(tc, test_no_decay_rule);
    tcase_add_test(tc, test_trainer_groups_frozen_and_tied);
    tcase_add_test(tc, test_decay_applies_per_group);
    tcase_add_test(tc, test_group_lr);
    tcase_add_test(tc, test_zero_grad_and_state);
    tcase_add_test(tc, test_bad_adam_options);
    tcase_add_test(tc, test_bad_params);
    tcase_add_test(tc, test_step_after_cast);
    tcase_add_test(tc, test_model_groups_cover_every_parameter);
    tcase_add_test(tc, test_failed_group_lists);
    return tc;
}
