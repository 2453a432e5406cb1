/* tests/nn/registry.c — the norm-layer registry: the built-ins are in it, a
 * user's own norm type joins with one call, and each utility that consults
 * it (weight-decay groups, bf16 casting, the printed tree) changes when it
 * does. */
#include <stdlib.h>
#include <string.h>

#include "nn_test.h"

/* A norm of the user's own: y = gain * x / (mean(|x|) + eps) over the last
 * dim, built from core ops. Its parameter is called "gain". */
typedef struct {
    ag_module base;
    ag_tensor *gain;
} mean_abs_norm;

static ag_tensor *mean_abs_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    mean_abs_norm *n = (mean_abs_norm *)m;
    ag_tensor *s = ag_add_scalar(A, ag_mean(A, ag_abs(A, x), AG_DIMS(-1), true), 1e-6);
    return ag_mul(A, ag_div(A, x, s), n->gain);
}

static const ag_module_type MEAN_ABS_NORM = {"MeanAbsNorm", mean_abs_forward, NULL};

static mean_abs_norm *mean_abs_new(ag_arena *P, int64_t d) {
    mean_abs_norm *n = ag_arena_calloc(P, sizeof *n);
    ag_module_init(&n->base, &MEAN_ABS_NORM, P);
    n->gain = ag_ones(P, AG_F32, AG_SHAPE(d));
    ag_module_add_param(&n->base, "gain", n->gain);
    return n;
}

/* A model with every kind of parameter: Linear (weight, bias), RMSNorm,
 * LayerNorm (weight, bias) and the user's norm. */
typedef struct {
    ag_module base;
    ag_nn_linear *fc;
    ag_nn_rmsnorm *rms;
    ag_nn_layernorm *ln;
    mean_abs_norm *custom;
} model;

static const ag_module_type MODEL = {"Model", NULL, NULL};

static model *model_new(ag_arena *P, ag_rng *r) {
    model *m = ag_arena_calloc(P, sizeof *m);
    ag_module_init(&m->base, &MODEL, P);
    m->fc = ag_nn_linear_new(P, r, 4, 4, true);
    m->rms = ag_nn_rmsnorm_new(P, AG_RMSNORM, AG_SHAPE(4), AG_EPS_DEFAULT, true);
    m->ln = ag_nn_layernorm_new(P, AG_SHAPE(4), 1e-5, true, true);
    m->custom = mean_abs_new(P, 4);
    ag_module_add_child(&m->base, "fc", &m->fc->base);
    ag_module_add_child(&m->base, "rms", &m->rms->base);
    ag_module_add_child(&m->base, "ln", &m->ln->base);
    ag_module_add_child(&m->base, "custom", &m->custom->base);
    return m;
}

static bool in_group(const ag_named_param *g, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(g[i].name, name) == 0) return true;
    return false;
}

static char *tree_of(ag_module *m) {
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ag_module_print(f, m);
    long n = ftell(f);
    rewind(f);
    char *text = calloc((size_t)n + 1, 1);
    ck_assert_int_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

/* Does the tree line that starts with "(name):" carry the norm mark? */
static bool marked(const char *tree, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "(%s): ", name);
    const char *at = strstr(tree, key);
    if (!at) return false;
    size_t len = strcspn(at, "\n");
    const char *mark = strstr(at, "[norm]");
    return mark && (size_t)(mark - at) < len;
}

START_TEST(builtins_are_registered) {
    const ag_module_type *types[AG_NORM_REGISTRY_MAX];
    int n = ag_norm_types(types, AG_NORM_REGISTRY_MAX);
    ck_assert_int_eq(n, 9); /* LayerNorm and the 8 RMSNorm kinds */
    ck_assert_ptr_eq(types[0], &ag_nn_layernorm_type);
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ck_assert(ag_norm_is_registered(ag_rmsnorm_type((ag_rmsnorm_kind)k)));
        ck_assert_ptr_eq(types[1 + k], ag_rmsnorm_type((ag_rmsnorm_kind)k));
        ck_assert_ptr_eq(types[1 + k], &ag_rmsnorm_types[k]);
    }
    /* every built-in has a block constructor that makes its own type */
    ag_arena *P = ag_arena_new(0);
    for (int i = 0; i < n; i++) {
        ag_norm_make_fn *make = ag_norm_maker(types[i]);
        ck_assert(make != NULL);
        ag_module *m = make(P, types[i], 3, AG_EPS_DEFAULT);
        ck_assert_ptr_nonnull(m);
        ck_assert_ptr_eq(m->type, types[i]);
    }
    ag_arena_free(P);
    ck_assert(!ag_norm_is_registered(&ag_nn_linear_type));
    ck_assert(!ag_norm_is_registered(NULL));
    ck_assert(ag_norm_maker(&ag_nn_linear_type) == NULL);
    ck_assert(ag_norm_maker(NULL) == NULL);
}
END_TEST

START_TEST(registering_changes_every_utility) {
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 3);
    model *m = model_new(P, &r);

    /* before: the user's norm is an ordinary module */
    ck_assert(!ag_module_is_norm(&m->custom->base));
    ck_assert(ag_module_is_norm(&m->rms->base) && ag_module_is_norm(&m->ln->base));
    ag_param_groups g = ag_decay_groups(&m->base, P);
    ck_assert_int_eq(g.ndecay, 2); /* fc.weight, custom.gain */
    ck_assert_int_eq(g.nno_decay, 4);
    ck_assert(in_group(g.decay, g.ndecay, "fc.weight"));
    ck_assert(in_group(g.decay, g.ndecay, "custom.gain"));
    const char *no[] = {"fc.bias", "rms.weight", "ln.weight", "ln.bias"};
    for (int i = 0; i < 4; i++) ck_assert(in_group(g.no_decay, g.nno_decay, no[i]));
    char *tree = tree_of(&m->base);
    ck_assert_ptr_nonnull(strstr(tree, "(custom): MeanAbsNorm("));
    ck_assert(!marked(tree, "custom") && marked(tree, "rms") && !marked(tree, "fc"));
    free(tree);

    /* one call */
    ck_assert(ag_norm_register(&MEAN_ABS_NORM));
    ck_assert(ag_norm_register(&MEAN_ABS_NORM)); /* twice is harmless */
    ck_assert_int_eq(ag_norm_types(NULL, 0), 10);
    ck_assert(ag_norm_maker(&MEAN_ABS_NORM) == NULL); /* registered without a constructor */
    ck_assert(ag_module_is_norm(&m->custom->base));

    /* after: no decay for its parameter ... */
    g = ag_decay_groups(&m->base, P);
    ck_assert_int_eq(g.ndecay, 1);
    ck_assert_str_eq(g.decay[0].name, "fc.weight");
    ck_assert(in_group(g.no_decay, g.nno_decay, "custom.gain"));
    /* ... it is marked in the tree ... */
    tree = tree_of(&m->base);
    ck_assert(marked(tree, "custom"));
    free(tree);
    /* ... and a bf16 cast keeps it (and the other norms) in f32 */
    ck_assert(ag_module_cast(&m->base, AG_BF16));
    ck_assert_int_eq(m->fc->weight->dtype, AG_BF16);
    ck_assert_int_eq(m->fc->bias->dtype, AG_BF16);
    ck_assert_int_eq(m->custom->gain->dtype, AG_F32);
    ck_assert_int_eq(m->rms->weight->dtype, AG_F32);
    ck_assert_int_eq(m->ln->bias->dtype, AG_F32);
    ag_arena_free(P);
}
END_TEST

START_TEST(unregistered_custom_norm_is_cast_to_bf16) {
    /* the counterpart of the last assertion above, in a fresh process (Check
     * forks each test, so the registration above is not seen here) */
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 3);
    model *m = model_new(P, &r);
    ck_assert(ag_module_cast(&m->base, AG_BF16));
    ck_assert_int_eq(m->custom->gain->dtype, AG_BF16);
    ck_assert_int_eq(m->rms->weight->dtype, AG_F32);
    /* the model still runs: bf16 parameters compute in f32 */
    ag_tensor *x = ag_ones(P, AG_F32, AG_SHAPE(2, 4));
    ag_tensor *y = ag_module_forward(&m->custom->base, P, x);
    ck_assert_ptr_nonnull(y);
    ck_close(ag_get_flat(y, 0), 1.0 / (1.0 + 1e-6), 1e-6);
    ag_arena_free(P);
}
END_TEST

START_TEST(register_null_is_reported) {
    expect_errors();
    ck_assert(!ag_norm_register(NULL));
    check_error("norm_register", "NULL", NULL);
    expect_errors();
    ck_assert(!ag_norm_register_make(NULL, ag_norm_maker(&ag_nn_layernorm_type)));
    check_error("norm_register_make", "module type is NULL", NULL);
    expect_errors();
    ck_assert(!ag_norm_register_make(&MEAN_ABS_NORM, NULL));
    check_error("norm_register_make", "the constructor is NULL", NULL);
    ck_assert(!ag_norm_is_registered(&MEAN_ABS_NORM));
}
END_TEST

/* A constructor given later is kept by a plain ag_norm_register after it. */
static ag_module *mean_abs_make(ag_arena *P, const ag_module_type *type, int64_t n,
                                double eps) {
    (void)type, (void)eps;
    return &mean_abs_new(P, n)->base;
}

START_TEST(constructor_is_kept_and_replaced) {
    ck_assert(ag_norm_register(&MEAN_ABS_NORM));
    ck_assert(ag_norm_register_make(&MEAN_ABS_NORM, mean_abs_make));
    ck_assert(ag_norm_register(&MEAN_ABS_NORM));
    ck_assert(ag_norm_maker(&MEAN_ABS_NORM) == mean_abs_make);
    ck_assert_int_eq(ag_norm_types(NULL, 0), 10); /* one entry all along */
    ag_norm_make_fn *ln = ag_norm_maker(&ag_nn_layernorm_type);
    ck_assert(ag_norm_register_make(&MEAN_ABS_NORM, ln));
    ck_assert(ag_norm_maker(&MEAN_ABS_NORM) == ln);
}
END_TEST

TCase *nn_registry_tcase(void) {
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, builtins_are_registered);
    tcase_add_test(tc, registering_changes_every_utility);
    tcase_add_test(tc, unregistered_custom_norm_is_cast_to_bf16);
    tcase_add_test(tc, register_null_is_reported);
    tcase_add_test(tc, constructor_is_kept_and_replaced);
    return tc;
}
