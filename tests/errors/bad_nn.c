/* tests/errors/bad_nn.c — bad calls to the nn helpers that take an arena or
 * a kind: module_parameters, decay_groups, rmsnorm_type and
 * rmsnorm_default_eps; activation modules and Sequential; entries added to
 * a module without an arena; an optimizer built from a model whose groups
 * miss a parameter or repeat one. One bad call per test; see errors_test.h
 * for what every report must look like. */
#include <math.h>

#include "errors_test.h"

static ag_module *linear_3_2(void) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_nn_linear *l = ag_nn_linear_new(A, &r, 3, 2, true);
    ck_assert_ptr_nonnull(l);
    return &l->base;
}

START_TEST(module_parameters_into_null_arena) {
    ag_module *m = linear_3_2();
    ag_named_param *ps = NULL;
    int n = ag_module_parameters(m, NULL, &ps); const int line = __LINE__;
    ck_assert_int_eq(n, -1);
    ck_assert_ptr_null(ps);
    EXPECT_REPORT("module_parameters", line, "arena", "NULL");
}
END_TEST

START_TEST(module_parameters_without_out) {
    ag_module *m = linear_3_2();
    int n = ag_module_parameters(m, A, NULL); const int line = __LINE__;
    ck_assert_int_eq(n, -1);
    EXPECT_REPORT("module_parameters", line, "out", "NULL");
}
END_TEST

/* A NULL module is an earlier failure: -1, no second report. */
START_TEST(module_parameters_of_null_module) {
    ag_named_param *ps = NULL;
    ck_assert_int_eq(ag_module_parameters(NULL, A, &ps), -1);
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(decay_groups_into_null_arena) {
    ag_module *m = linear_3_2();
    ag_param_groups g = ag_decay_groups(m, NULL); const int line = __LINE__;
    ck_assert_ptr_null(g.decay);
    ck_assert_ptr_null(g.no_decay);
    ck_assert_int_eq(g.ndecay + g.nno_decay, 0);
    EXPECT_REPORT("decay_groups", line, "arena", "NULL");
}
END_TEST

START_TEST(rmsnorm_type_of_unknown_kind) {
    const ag_module_type *t = ag_rmsnorm_type(AG_RMSNORM_KINDS); const int line = __LINE__;
    ck_assert_ptr_null(t);
    EXPECT_REPORT("rmsnorm_type", line, "kind 8", "0 to 7");
}
END_TEST

START_TEST(rmsnorm_default_eps_of_unknown_kind) {
    double eps = ag_rmsnorm_default_eps((ag_rmsnorm_kind)-1); const int line = __LINE__;
    ck_assert(isnan(eps));
    EXPECT_REPORT("rmsnorm_default_eps", line, "kind -1", "0 to 7");
}
END_TEST

START_TEST(activation_of_unknown_kind) {
    ag_module *m = ag_nn_activation_new(A, (ag_activation)7); const int line = __LINE__;
    ck_assert_ptr_null(m);
    EXPECT_REPORT("nn_activation_new", line, "unknown activation 7", "AG_ACT_IDENTITY");
}
END_TEST

/* a ModuleList inside a Sequential: reported when forward reaches it */
START_TEST(sequential_child_without_forward) {
    ag_module *layers[] = {linear_3_2(), &ag_module_list_new(A)->base};
    ag_nn_sequential *s = ag_nn_sequential_of(A, layers, 2);
    ck_assert_ptr_nonnull(s);
    ag_tensor *y = ag_nn_sequential_forward(A, s, F32(4, 3)); const int line = __LINE__;
    ck_assert_ptr_null(y);
    EXPECT_REPORT("module_forward", line, "ModuleList has no forward", NULL);
}
END_TEST

/* a module whose base was initialised without an arena has nowhere to keep
 * an entry: reported, not a silent false */
static const ag_module_type THING = {"Thing", NULL, NULL};
START_TEST(set_attr_on_module_without_arena) {
    ag_module m;
    ag_module_init(&m, &THING, NULL);
    const bool ok = ag_module_set_attr(&m, "eps", 1e-5); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("module_set_attr", line, "Thing has no arena", "NULL");
    ck_assert_int_eq(m.nattrs, 0);
}
END_TEST

START_TEST(add_child_to_module_without_arena) {
    ag_module m;
    ag_module_init(&m, &THING, NULL);
    const bool ok = ag_module_add_child(&m, "fc", linear_3_2()); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("module_add_child", line, "Thing has no arena", NULL);
    ck_assert_int_eq(m.nchildren, 0);
}
END_TEST

/* the Trainer's two groups, passed as one: the biases would never train */
START_TEST(optimizer_group_missing_a_parameter) {
    ag_module *m = linear_3_2();
    ag_optim_groups g = ag_optim_groups_from_model(m, A, AG_OPTIM_INHERIT, 0.1);
    g.ngroups = 1;
    ag_optim *o = ag_adamw_new(A, g, NULL); const int line = __LINE__;
    ck_assert_ptr_null(o);
    EXPECT_REPORT("adamw_new", line, "parameter 'bias' [2] requires a gradient but is in none",
                  "freeze it");
}
END_TEST

START_TEST(optimizer_parameter_in_two_groups) {
    ag_module *m = linear_3_2();
    ag_tensor *w = ag_module_param(m, "weight"), *b = ag_module_param(m, "bias");
    ag_optim_group g[2] = {ag_optim_group_of((ag_tensor *[]){w, b}, 2), ag_optim_group_of(&w, 1)};
    ag_optim *o = ag_sgd_new(A, AG_OPTIM_GROUPS_OF_MODEL(m, g), NULL); const int line = __LINE__;
    ck_assert_ptr_null(o);
    EXPECT_REPORT("sgd_new", line, "parameter 'weight' [2,3] is in groups 0 and 1", NULL);
}
END_TEST

TCase *errors_nn_tcase(void) {
    TCase *tc = tcase_create("bad_nn");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_add_test(tc, module_parameters_into_null_arena);
    tcase_add_test(tc, module_parameters_without_out);
    tcase_add_test(tc, module_parameters_of_null_module);
    tcase_add_test(tc, decay_groups_into_null_arena);
    tcase_add_test(tc, rmsnorm_type_of_unknown_kind);
    tcase_add_test(tc, rmsnorm_default_eps_of_unknown_kind);
    tcase_add_test(tc, activation_of_unknown_kind);
    tcase_add_test(tc, sequential_child_without_forward);
    tcase_add_test(tc, set_attr_on_module_without_arena);
    tcase_add_test(tc, add_child_to_module_without_arena);
    tcase_add_test(tc, optimizer_group_missing_a_parameter);
    tcase_add_test(tc, optimizer_parameter_in_two_groups);
    return tc;
}
