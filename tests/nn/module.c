/* tests/nn/module.c — the module base: dotted names, lookups, counts,
 * freezing, train/eval, zero_grad, casting and the printed tree. */
#include <stdlib.h>
#include <string.h>

#include "nn_test.h"

/* A small model: fc = Linear(4, 8), norm = RMSNorm(8), layers = [Linear(8, 8,
 * no bias) x 2], and a parameter of its own, "scale" [8]. */
typedef struct {
    ag_module base;
    ag_nn_linear *fc;
    ag_nn_rmsnorm *norm;
    ag_module_list *layers;
    ag_tensor *scale;
} tiny;

static const ag_module_type TINY = {"TinyModel", NULL, NULL};

static tiny *tiny_new(ag_arena *P, ag_rng *r) {
    tiny *m = ag_arena_calloc(P, sizeof *m);
    ag_module_init(&m->base, &TINY, P);
    m->scale = ag_ones(P, AG_F32, AG_SHAPE(8));
    ck_assert(ag_module_add_param(&m->base, "scale", m->scale));
    m->fc = ag_nn_linear_new(P, r, 4, 8, true);
    m->norm = ag_nn_rmsnorm_new(P, AG_RMSNORM_LLAMA, AG_SHAPE(8), AG_EPS_DEFAULT, true);
    m->layers = ag_module_list_new(P);
    ck_assert(ag_module_add_child(&m->base, "fc", &m->fc->base));
    ck_assert(ag_module_add_child(&m->base, "norm", &m->norm->base));
    ck_assert(ag_module_add_child(&m->base, "layers", &m->layers->base));
    for (int i = 0; i < 2; i++)
        ck_assert(ag_module_list_append(m->layers, &ag_nn_linear_new(P, r, 8, 8, false)->base));
    return m;
}

static ag_arena *P;
static ag_rng rng;
static tiny *model;

static void setup(void) {
    P = ag_arena_new(0);
    ag_rng_seed(&rng, 5);
    model = tiny_new(P, &rng);
}

static void teardown(void) { ag_arena_free(P); }

START_TEST(dotted_names_in_order) {
    ag_named_param *ps;
    int n = ag_module_parameters(&model->base, P, &ps);
    const char *want[] = {"scale",       "fc.weight",       "fc.bias",
                          "norm.weight", "layers.0.weight", "layers.1.weight"};
    ck_assert_int_eq(n, 6);
    for (int i = 0; i < n; i++) ck_assert_str_eq(ps[i].name, want[i]);
    ck_assert_ptr_eq(ps[1].tensor, model->fc->weight);
    ck_assert_ptr_eq(ps[1].owner, &model->fc->base);
    ck_assert_str_eq(ps[1].local_name, "weight");
    ck_assert_ptr_eq(ps[5].owner, ag_module_child(&model->base, "layers.1"));
}
END_TEST

START_TEST(lookups_by_path) {
    ck_assert_ptr_eq(ag_module_param(&model->base, "fc.bias"), model->fc->bias);
    ck_assert_ptr_eq(ag_module_param(&model->base, "scale"), model->scale);
    ck_assert_ptr_eq(ag_module_param(&model->base, "layers.0.weight"),
                     ((ag_nn_linear *)ag_module_child(&model->base, "layers.0"))->weight);
    ck_assert_ptr_null(ag_module_param(&model->base, "fc.nothing"));
    ck_assert_ptr_null(ag_module_param(&model->base, "layers.2.weight"));
    ck_assert_ptr_null(ag_module_child(&model->base, "fc.weight"));
    ck_assert_ptr_eq(ag_module_child(&model->base, "norm"), &model->norm->base);
}
END_TEST

START_TEST(counts_and_freezing) {
    /* 8 + (4*8 + 8) + 8 + 8*8 + 8*8 */
    ck_assert_int_eq(ag_module_num_params(&model->base), 8 + 40 + 8 + 64 + 64);
    ck_assert_int_eq(ag_module_num_trainable(&model->base), 184);
    ag_set_requires_grad(ag_module_param(&model->base, "layers.0.weight"), false);
    ck_assert_int_eq(ag_module_num_trainable(&model->base), 184 - 64);
    ag_module_requires_grad(&model->fc->base, false);
    ck_assert_int_eq(ag_module_num_trainable(&model->base), 184 - 64 - 40);
    ck_assert_int_eq(ag_module_num_params(&model->base), 184);
    ag_module_requires_grad(&model->base, true);
    ck_assert_int_eq(ag_module_num_trainable(&model->base), 184);
}
END_TEST

START_TEST(train_eval_reaches_every_module) {
    ck_assert(model->base.training && model->fc->base.training);
    ag_module_train(&model->base, false);
    ck_assert(!model->base.training && !model->norm->base.training);
    ck_assert(!ag_module_child(&model->base, "layers.1")->training);
    ag_module_train(&model->base, true);
    ck_assert(ag_module_child(&model->base, "layers.1")->training);
}
END_TEST

START_TEST(zero_grad_after_backward) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_ones(A, AG_F32, AG_SHAPE(2, 4));
    ag_tensor *y = ag_module_forward(&model->fc->base, A, x);
    ag_backward(ag_sum(A, y, 0, NULL, false), NULL);
    /* d sum(x W^T + b) / db = number of rows */
    ck_close(ag_get_flat(model->fc->bias->grad, 3), 2.0, 0);
    ag_module_zero_grad(&model->base);
    for (int j = 0; j < 8; j++) ck_close(ag_get_flat(model->fc->bias->grad, j), 0.0, 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(cast_keeps_identity_and_values) {
    ag_tensor *w = model->fc->weight;
    double w0 = ag_get_flat(w, 0);
    ck_assert(ag_module_cast(&model->base, AG_F64));
    ck_assert_ptr_eq(model->fc->weight, w);
    ck_assert_int_eq(w->dtype, AG_F64);
    ck_assert_int_eq(model->norm->weight->dtype, AG_F64);
    ck_close(ag_get_flat(w, 0), w0, 0); /* f32 -> f64 is exact */
    ck_assert(w->requires_grad);
}
END_TEST

START_TEST(printed_tree) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ag_module_print(f, &model->base);
    fclose(f);
    const char *want[] = {
        "TinyModel(\n",
        "  (scale): Parameter[8]\n",
        "  (fc): Linear(in_features=4, out_features=8, bias=true)  40 params\n",
        "8 params [norm]\n",
        "  (layers): ModuleList(\n",
        "    (0): Linear(in_features=8, out_features=8, bias=false)  64 params\n",
        "    (1): Linear(in_features=8, out_features=8, bias=false)  64 params\n",
        "  )\n)\ntotal params: 184, trainable: 184\n",
    };
    const char *at = buf;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *hit = strstr(at, want[i]);
        ck_assert_msg(hit, "tree lacks (in order) \"%s\":\n%s", want[i], buf);
        at = hit + strlen(want[i]);
    }
    /* only the norm layer is marked */
    const char *mark = strstr(buf, "[norm]");
    ck_assert_ptr_nonnull(mark);
    ck_assert_ptr_null(strstr(mark + 1, "[norm]"));
    ck_assert_ptr_nonnull(strstr(buf, "(norm): LlamaRMSNorm("));
    free(buf);
}
END_TEST

START_TEST(bad_entries_are_reported) {
    expect_errors();
    ck_assert(!ag_module_add_param(&model->base, "scale", ag_ones(P, AG_F32, AG_SHAPE(2))));
    check_error("module_add_param", "TinyModel", "\"scale\"");
    expect_errors();
    ck_assert(!ag_module_add_child(&model->base, "a.b", &model->fc->base));
    check_error("module_add_child", "without dots", NULL);
    expect_errors();
    ck_assert(!ag_module_add_param(&model->base, "ids", ag_zeros(P, AG_I32, AG_SHAPE(2))));
    check_error("module_add_param", "float leaf", "i32");
    expect_errors();
    ck_assert_ptr_null(ag_module_forward(&model->base, P, model->scale));
    check_error("module_forward", "TinyModel", "no forward");
    expect_errors();
    ck_assert(!ag_module_cast(&model->base, AG_I32));
    check_error("module_cast", "i32", NULL);
}
END_TEST

/* ---- a user module with the short calls ------------------------------------ */

/* gain(x) = g * x over a last dim of n, g one element starting at 2. */
typedef struct {
    ag_module base;
    int64_t n;
    ag_tensor *g;
} gain;

static ag_tensor *gain_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    gain *s = (gain *)m;
    if (!ag_module_check_last_dim(m, x, s->n)) return NULL;
    return ag_mul(A, s->g, x);
}
static const ag_module_type GAIN = {.name = "Gain", .forward = gain_forward};

static gain *gain_new(int64_t n) {
    gain *s = ag_module_new(P, sizeof *s, &GAIN);
    ck_assert_ptr_nonnull(s);
    s->n = n;
    s->g = ag_module_new_param(&s->base, "g", ag_scalar(P, AG_F32, 2.0));
    return s;
}

/* ag_module_new gives a zeroed struct with its base initialised;
 * ag_module_new_param returns the tensor, registered and requiring a
 * gradient; the forward runs; a type without describe prints "Gain()". */
START_TEST(short_calls_make_a_module) {
    gain *s = gain_new(3);
    ck_assert_ptr_eq(s->base.type, &GAIN);
    ck_assert_ptr_eq(s->base.arena, P);
    ck_assert(s->base.training);
    ck_assert_int_eq(s->n, 3);
    ck_assert_ptr_eq(ag_module_param(&s->base, "g"), s->g);
    ck_assert(s->g->requires_grad);
    ck_assert_int_eq(s->base.nparams, 1);
    ag_tensor *y = ag_module_forward(&s->base, P, ag_ones(P, AG_F32, AG_SHAPE(2, 3)));
    ck_assert_double_eq(ag_get_flat(y, 5), 2.0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ag_module_print(f, &s->base);
    fclose(f);
    ck_assert_str_eq(buf, "Gain()  1 params\ntotal params: 1, trainable: 1\n");
    free(buf);
}
END_TEST

START_TEST(short_calls_report_bad_input) {
    gain *s = gain_new(3);
    expect_errors();
    ck_assert_ptr_null(ag_module_forward(&s->base, P, ag_ones(P, AG_F32, AG_SHAPE(2, 5))));
    check_error("Gain", "input f32 [2,5]", "expected a last dim of 3");
    expect_errors();
    ck_assert(!ag_module_check_last_dim(&s->base, ag_scalar(P, AG_F32, 1.0), 3));
    check_error("Gain", "input f32 []", "last dim of 3");
    expect_errors();
    ck_assert_ptr_null(ag_module_new(P, sizeof(ag_module) - 1, &GAIN));
    check_error("module_new", "size too small", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_module_new(P, sizeof(gain), NULL));
    check_error("module_new", "type is NULL", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_module_new_param(&s->base, "g", ag_ones(P, AG_F32, AG_SHAPE(2))));
    check_error("module_add_param", "\"g\"", NULL);
    /* an earlier failure passes through without a report */
    expect_errors();
    ck_assert_ptr_null(ag_module_new_param(&s->base, "h", NULL));
    ck_assert_ptr_null(ag_module_new_param(NULL, "h", ag_ones(P, AG_F32, AG_SHAPE(2))));
    ck_assert(!ag_module_check_last_dim(&s->base, NULL, 3));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
}
END_TEST

/* ---- a module without a struct: attributes --------------------------------- */

/* shift(x) = x + g * c: g found by name, c an attribute. */
static ag_tensor *shift_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    ag_tensor *g = ag_module_param(m, "g");
    return ag_add(A, x, ag_mul_scalar(A, g, ag_module_attr(m, "c")));
}
static const ag_module_type SHIFT = {.name = "Shift", .forward = shift_forward};

/* An attribute is set, read, changed and printed (in the order set, %g);
 * the forward reads the changed value. */
START_TEST(attributes_hold_settings) {
    ag_module *m = ag_module_new(P, sizeof *m, &SHIFT);
    ck_assert(ag_module_set_attr(m, "c", 3.0));
    ck_assert(ag_module_set_attr(m, "eps", 1e-5));
    ck_assert_ptr_nonnull(ag_module_new_param(m, "g", ag_scalar(P, AG_F32, 2.0)));
    ck_assert_double_eq(ag_module_attr(m, "c"), 3.0);
    ck_assert_double_eq(ag_module_attr(m, "eps"), 1e-5);
    ck_assert(ag_module_set_attr(m, "c", 0.5)); /* changed, not added twice */
    ck_assert_int_eq(m->nattrs, 2);
    ag_tensor *y = ag_module_forward(m, P, ag_ones(P, AG_F32, AG_SHAPE(2)));
    ck_assert_double_eq(ag_get_flat(y, 1), 1.0 + 2.0 * 0.5);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ag_module_print(f, m);
    fclose(f);
    ck_assert_str_eq(buf, "Shift(c=0.5, eps=1e-05)  1 params\ntotal params: 1, trainable: 1\n");
    free(buf);
}
END_TEST

/* A missing attribute and a bad name are reported; a NULL module (an
 * earlier failure) passes through silently. */
START_TEST(attributes_report_bad_input) {
    ag_module *m = ag_module_new(P, sizeof *m, &SHIFT);
    expect_errors();
    ck_assert(isnan(ag_module_attr(m, "c")));
    check_error("module_attr", "Shift has no attribute \"c\"", NULL);
    expect_errors();
    ck_assert(!ag_module_set_attr(m, "a.b", 1.0));
    check_error("module_set_attr", "\"a.b\"", "without dots");
    expect_errors();
    ck_assert(!ag_module_set_attr(m, "", 1.0));
    check_error("module_set_attr", "non-empty", NULL);
    expect_errors();
    ck_assert(!ag_module_set_attr(NULL, "c", 1.0));
    ck_assert(isnan(ag_module_attr(NULL, "c")));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
}
END_TEST

/* ag_module_gc_inputs: x, then the trainable parameters in order, all f64;
 * a frozen one left out; the inputs gradcheck. */
static ag_module *gc_module;
static ag_tensor *gc_forward(ag_arena *A, ag_tensor *const *in, int n, void *u) {
    (void)n, (void)u;
    return ag_module_forward(gc_module, A, in[0]);
}
START_TEST(gc_inputs_are_x_and_the_trainable_parameters) {
    ag_nn_linear *l = ag_nn_linear_new(P, &rng, 3, 2, true);
    gc_module = &l->base;
    ag_tensor *in[AG_GRADCHECK_MAX_INPUTS] = {0};
    ag_tensor *x = ag_randn(P, &rng, AG_F64, AG_SHAPE(4, 3), 0.0, 1.0);
    ck_assert_int_eq(ag_module_gc_inputs(&l->base, x, in), 3);
    ck_assert_ptr_eq(in[0], x);
    ck_assert_ptr_eq(in[1], l->weight);
    ck_assert_ptr_eq(in[2], l->bias);
    ck_assert_int_eq(l->weight->dtype, AG_F64);
    ck_assert(ag_gradcheck(gc_forward, 3, in, NULL, NULL, NULL));
    ag_set_requires_grad(l->bias, false);
    ck_assert_int_eq(ag_module_gc_inputs(&l->base, x, in), 2);
    expect_errors();
    ck_assert_int_eq(ag_module_gc_inputs(&l->base, ag_ones(P, AG_F32, AG_SHAPE(4, 3)), in), 0);
    check_error("module_gc_inputs", "f32 [4,3]", "expected f64");
    expect_errors();
    ck_assert_int_eq(ag_module_gc_inputs(NULL, x, in), 0);
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
}
END_TEST

TCase *nn_module_tcase(void) {
    TCase *tc = tcase_create("module");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dotted_names_in_order);
    tcase_add_test(tc, lookups_by_path);
    tcase_add_test(tc, counts_and_freezing);
    tcase_add_test(tc, train_eval_reaches_every_module);
    tcase_add_test(tc, zero_grad_after_backward);
    tcase_add_test(tc, cast_keeps_identity_and_values);
    tcase_add_test(tc, printed_tree);
    tcase_add_test(tc, bad_entries_are_reported);
    tcase_add_test(tc, short_calls_make_a_module);
    tcase_add_test(tc, short_calls_report_bad_input);
    tcase_add_test(tc, gc_inputs_are_x_and_the_trainable_parameters);
    tcase_add_test(tc, attributes_hold_settings);
    tcase_add_test(tc, attributes_report_bad_input);
    return tc;
}
