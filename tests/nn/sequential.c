/* tests/nn/sequential.c — the activation modules, Sequential and
 * ModuleList: forward values against formulas and hand-computed chains,
 * parameter names as PyTorch's nn.Sequential gives them, and the printed
 * tree against PyTorch's repr of the same model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_test.h"

double nn_ref_act(double x, ag_activation act) {
    switch (act) {
    case AG_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case AG_ACT_GELU_TANH:
        return 0.5 * x *
               (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case AG_ACT_RELU: return x > 0 ? x : 0.0;
    case AG_ACT_SILU: return x / (1.0 + exp(-x));
    case AG_ACT_TANH: return tanh(x);
    case AG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case AG_ACT_IDENTITY: return x;
    }
    return NAN;
}

char *nn_printed(ag_arena *A, ag_module *m) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ag_module_print(f, m);
    fclose(f);
    char *copy = ag_arena_alloc(A, len + 1);
    memcpy(copy, buf, len + 1);
    free(buf);
    return copy;
}

static const ag_activation KINDS[] = {AG_ACT_GELU, AG_ACT_GELU_TANH, AG_ACT_RELU, AG_ACT_SILU,
                                      AG_ACT_TANH, AG_ACT_SIGMOID, AG_ACT_IDENTITY};
#define NKINDS (int)(sizeof KINDS / sizeof KINDS[0])

/* Each module's forward equals its formula; the printed name and extra repr
 * are PyTorch's; no parameters; not a norm layer. */
START_TEST(activation_modules) {
    static const char *const repr[NKINDS] = {
        "GELU(approximate='none')\n", "GELU(approximate='tanh')\n", "ReLU()\n", "SiLU()\n",
        "Tanh()\n", "Sigmoid()\n", "Identity()\n"};
    ag_arena *A = ag_arena_new(0);
    const double xs[] = {-2.5, -1.0, -0.3, 0.2, 0.7, 1.5, 3.0};
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(7), xs);
    for (int k = 0; k < NKINDS; k++) {
        ag_module *m = ag_nn_activation_new(A, KINDS[k]);
        ck_assert_ptr_nonnull(m);
        ck_assert_int_eq((int)((ag_nn_activation *)m)->kind, (int)KINDS[k]);
        ag_tensor *y = ag_module_forward(m, A, x);
        ck_assert_ptr_nonnull(y);
        for (int i = 0; i < 7; i++) ck_close(ag_get_flat(y, i), nn_ref_act(xs[i], KINDS[k]), 1e-15);
        ck_assert_int_eq(ag_module_num_params(m), 0);
        ck_assert(!ag_module_is_norm(m));
        const char *p = nn_printed(A, m);
        ck_assert_msg(strncmp(p, repr[k], strlen(repr[k])) == 0, "printed:\n%s", p);
    }
    /* Identity gives its input back, not a copy (nn.Identity) */
    ck_assert_ptr_eq(ag_module_forward(ag_nn_activation_new(A, AG_ACT_IDENTITY), A, x), x);
    ag_arena_free(A);
}
END_TEST

/* Linear(2, 2) -> ReLU -> Linear(2, 1) with set weights:
 *   h = [1*1 - 1*2 + 0.1, 0.5*1 + 2*2 - 0.2] = [-0.9, 4.3]
 *   relu(h) = [0, 4.3];  y = 2*0 - 3*4.3 + 0.5 = -12.4
 * and for x = [-1, 0.5]: h = [-1.4, 0.3] -> [0, 0.3] -> -0.9 + 0.5 = -0.4. */
START_TEST(sequential_forward_runs_children_in_order) {
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_nn_linear *fc1 = ag_nn_linear_new(P, &r, 2, 2, true);
    ag_nn_linear *fc2 = ag_nn_linear_new(P, &r, 2, 1, true);
    const float w1[] = {1, -1, 0.5f, 2}, b1[] = {0.1f, -0.2f}, w2[] = {2, -3}, b2[] = {0.5f};
    memcpy(fc1->weight->data, w1, sizeof w1);
    memcpy(fc1->bias->data, b1, sizeof b1);
    memcpy(fc2->weight->data, w2, sizeof w2);
    memcpy(fc2->bias->data, b2, sizeof b2);
    ag_module *layers[] = {&fc1->base, ag_nn_activation_new(P, AG_ACT_RELU), &fc2->base};
    ag_nn_sequential *net = ag_nn_sequential_of(P, layers, 3);
    ck_assert_ptr_nonnull(net);
    ag_tensor *x = ag_from_f64(P, AG_F32, AG_SHAPE(2, 2), (const double[]){1, 2, -1, 0.5});
    ag_tensor *y = ag_nn_sequential_forward(P, net, x);
    ck_shape(y, 2, ((int64_t[]){2, 1}));
    ck_values(y, 2, ((double[]){-12.4, -0.4}), 1e-5);
    /* the same through the base, and built one append at a time */
    ag_nn_sequential *net2 = ag_nn_sequential_new(P);
    for (int i = 0; i < 3; i++) ck_assert(ag_nn_sequential_append(net2, layers[i]));
    ck_values(ag_module_forward(&net2->base, P, x), 2, ((double[]){-12.4, -0.4}), 1e-5);
    /* an empty Sequential is the identity, as in PyTorch */
    ck_assert_ptr_eq(ag_nn_sequential_forward(P, ag_nn_sequential_new(P), x), x);
    ag_arena_free(P);
}
END_TEST

/* nn.Sequential(nn.Linear(2, 4), nn.GELU(), nn.Linear(4, 1), nn.Tanh())
 * names its parameters 0.weight, 0.bias, 2.weight, 2.bias; nested, the
 * outer index comes first ("1.0.weight"). */
START_TEST(sequential_names_like_pytorch) {
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 2);
    ag_module *layers[] = {&ag_nn_linear_new(P, &r, 2, 4, true)->base,
                           ag_nn_activation_new(P, AG_ACT_GELU),
                           &ag_nn_linear_new(P, &r, 4, 1, true)->base,
                           ag_nn_activation_new(P, AG_ACT_TANH)};
    ag_nn_sequential *net = ag_nn_sequential_of(P, layers, 4);
    ag_named_param *ps;
    ck_assert_int_eq(ag_module_parameters(&net->base, P, &ps), 4);
    const char *want[] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    for (int i = 0; i < 4; i++) ck_assert_str_eq(ps[i].name, want[i]);
    ck_assert_ptr_eq(ag_module_child(&net->base, "1"), layers[1]);

    ag_module *outer_layers[] = {ag_nn_activation_new(P, AG_ACT_IDENTITY), &net->base};
    ag_nn_sequential *outer = ag_nn_sequential_of(P, outer_layers, 2);
    ck_assert_ptr_eq(ag_module_param(&outer->base, "1.2.bias"),
                     ag_module_param(&net->base, "2.bias"));

    /* PyTorch prints
     *   Sequential(
     *     (0): Linear(in_features=2, out_features=4, bias=True)
     *     (1): GELU(approximate='none')
     *     (2): Linear(in_features=4, out_features=1, bias=True)
     *     (3): Tanh()
     *   )
     * ag's tree is the same, with ag's spelling of booleans, each leaf's
     * parameter count, and a closing line of totals (ag/module.h). */
    const char *expected = "Sequential(\n"
                           "  (0): Linear(in_features=2, out_features=4, bias=true)  12 params\n"
                           "  (1): GELU(approximate='none')\n"
                           "  (2): Linear(in_features=4, out_features=1, bias=true)  5 params\n"
                           "  (3): Tanh()\n"
                           ")\n"
                           "total params: 17, trainable: 17\n";
    ck_assert_str_eq(nn_printed(P, &net->base), expected);
    ag_arena_free(P);
}
END_TEST

START_TEST(sequential_bad_input) {
    ag_arena *P = ag_arena_new(0);
    ag_module_list *list = ag_module_list_new(P);
    ag_module *layers[] = {ag_nn_activation_new(P, AG_ACT_RELU), &list->base, NULL};
    ag_tensor *x = ag_zeros(P, AG_F32, AG_SHAPE(2));

    expect_errors();
    ag_nn_sequential *s = ag_nn_sequential_of(P, layers, 2);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(ag_nn_sequential_forward(P, s, x)); /* a ModuleList has no forward */
    check_error("module_forward", "ModuleList has no forward", NULL);

    expect_errors();
    ck_assert_ptr_null(ag_nn_sequential_of(P, layers, -1));
    check_error("nn_sequential_of", "-1 children", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_sequential_of(P, NULL, 2));
    check_error("nn_sequential_of", "NULL", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_sequential_new(NULL));
    check_error("nn_sequential_new", "arena is NULL", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_activation_new(P, (ag_activation)42));
    check_error("nn_activation_new", "unknown activation 42", NULL);
    expect_errors();
    ck_assert(!ag_nn_sequential_append(s, &s->base)); /* a cycle */
    check_error("nn_sequential_append", "cycle", NULL);

    /* a NULL entry is an earlier failure: NULL, no new report */
    expect_errors();
    ck_assert_ptr_null(ag_nn_sequential_of(P, layers + 1, 2));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(P);
}
END_TEST

TCase *nn_sequential_tcase(void) {
    TCase *tc = tcase_create("sequential");
    tcase_add_test(tc, activation_modules);
    tcase_add_test(tc, sequential_forward_runs_children_in_order);
    tcase_add_test(tc, sequential_names_like_pytorch);
    tcase_add_test(tc, sequential_bad_input);
    return tc;
}
