/* tests/checkpoint/train_state.c — a training run's state in a folder
 * (ag/train_state.h): k steps, save, m more steps must equal k steps, load
 * into freshly built objects, m steps, bit for bit; every refusal leaves
 * the objects as they were; a save refuses metadata it could not load. */
#include <ag/ag.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_test.h"

/* A small model: Linear(4, 8) -> LayerNorm(8) -> Linear(8, 3), trained on
 * batches drawn from the run's generator (so a resumed run must get the
 * generator back to draw the same batches). */
typedef struct {
    ag_arena *P;
    ag_module root;
    ag_nn_linear *l1, *l2;
    ag_nn_layernorm *ln;
    ag_optim *opt;
    ag_schedule sched;
    ag_rng rng;
} run;

static const ag_module_type ROOT = {"Root", NULL, NULL};

static void build(run *r, uint64_t init_seed, ag_dtype dt, bool sgd) {
    memset(r, 0, sizeof *r);
    r->P = ag_arena_new(0);
    ag_rng init;
    ag_rng_seed(&init, init_seed);
    ag_module_init(&r->root, &ROOT, r->P);
    r->l1 = ag_nn_linear_new(r->P, &init, 4, 8, true);
    r->ln = ag_nn_layernorm_new(r->P, AG_SHAPE(8), 1e-5, true, true);
    r->l2 = ag_nn_linear_new(r->P, &init, 8, 3, true);
    ck_assert(ag_module_add_child(&r->root, "fc1", &r->l1->base));
    ck_assert(ag_module_add_child(&r->root, "norm", &r->ln->base));
    ck_assert(ag_module_add_child(&r->root, "fc2", &r->l2->base));
    if (dt != AG_F32) ck_assert(ag_module_cast(&r->root, dt));
    ag_optim_groups g = ag_optim_groups_from_model(&r->root, r->P, AG_OPTIM_INHERIT, 0.1);
    if (sgd) {
        ag_sgd_opts o = ag_sgd_defaults();
        o.momentum = 0.9;
        r->opt = ag_sgd_new(r->P, g, &o);
    } else {
        ag_adam_opts o = ag_adamw_defaults();
        o.lr = 1e-2;
        o.weight_decay = 0.1;
        r->opt = ag_adamw_new(r->P, g, &o);
    }
    ck_assert_ptr_nonnull(r->opt);
    r->sched = ag_schedule_warmup_cosine(3, 20, 0.1);
    ag_rng_seed(&r->rng, 77);
}

static void step(run *r, ag_arena *S) {
    ag_arena_reset(S);
    ag_tensor *x = ag_randn(S, &r->rng, AG_F32, AG_SHAPE(5, 4), 0, 1);
    if (r->l1->weight->dtype != AG_F32) x = ag_cast(S, x, r->l1->weight->dtype);
    ag_tensor *h = ag_gelu(S, ag_nn_linear_forward(S, r->l1, x));
    h = ag_nn_layernorm_forward(S, r->ln, h);
    ag_tensor *y = ag_nn_linear_forward(S, r->l2, h);
    ag_tensor *loss = ag_mean(S, ag_square(S, y), 0, NULL, false);
    ck_assert(ag_backward(loss, NULL));
    ag_optim_clip_grad_norm(r->opt, 1.0, false);
    ag_schedule_apply(&r->sched, r->opt, r->opt->steps);
    ck_assert(ag_optim_step(r->opt));
    ag_optim_zero_grad(r->opt);
}

static ag_train_state state_of(run *r, int64_t pos) {
    static const ag_st_meta meta[] = {{"model", "fc-ln-fc"}};
    return (ag_train_state){&r->root, r->opt, &r->rng, pos, 1, meta};
}

/* k steps, save, m steps; then a fresh run (another init) loads and takes
 * m steps: the same parameters, bit for bit. */
static void resume_equals_straight(ag_dtype dt, bool sgd) {
    char dir[256], ck[300];
    scratch_dir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    ag_arena *S = ag_arena_new(0);
    run a, b;
    build(&a, 1, dt, sgd);
    for (int s = 0; s < 7; s++) step(&a, S);
    ag_st_status st;
    ag_train_state sa = state_of(&a, 7);
    ck_assert_msg(ag_train_save(ck, &sa, NULL, &st), "%s", st.message);
    for (int s = 0; s < 6; s++) step(&a, S);
    build(&b, 2, dt, sgd);
    ag_train_state sb = state_of(&b, 0);
    ck_assert_msg(ag_train_load(ck, &sb, &st), "%s", st.message);
    ck_assert_int_eq(sb.data_position, 7);
    ck_assert_int_eq(b.opt->steps, 7);
    for (int s = 0; s < 6; s++) step(&b, S);
    size_t na, nb;
    unsigned char *pa = param_bytes(&a.root, &na), *pb = param_bytes(&b.root, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na) == 0, "the resumed run's parameters differ");
    ck_assert(a.opt->groups[0].lr == b.opt->groups[0].lr);
    free(pa);
    free(pb);
    ag_arena_free(a.P);
    ag_arena_free(b.P);
    ag_arena_free(S);
    scratch_remove(dir);
}

START_TEST(resume_adamw_f32) { resume_equals_straight(AG_F32, false); }
END_TEST
START_TEST(resume_adamw_f64) { resume_equals_straight(AG_F64, false); }
END_TEST
START_TEST(resume_adamw_bf16_master_copies) { resume_equals_straight(AG_BF16, false); }
END_TEST
START_TEST(resume_sgd_momentum) { resume_equals_straight(AG_F32, true); }
END_TEST

/* A load that fails leaves the model, the optimizer and the generator as
 * they were. */
static void expect_refused(run *r, const char *dir, ag_st_code code, const char *text) {
    size_t n;
    unsigned char *snap = param_bytes(&r->root, &n);
    const ag_rng rng = r->rng;
    const int64_t steps = r->opt->steps;
    ag_train_state s = state_of(r, -5);
    ag_st_status st;
    ck_assert(!ag_train_load(dir, &s, &st));
    ck_assert_msg(st.code == code, "code %s, expected %s: %s", ag_st_code_name(st.code),
                  ag_st_code_name(code), st.message);
    ck_assert_msg(strstr(st.message, text), "\"%s\" lacks \"%s\"", st.message, text);
    expect_unchanged(&r->root, snap, n);
    ck_assert(memcmp(&rng, &r->rng, sizeof rng) == 0);
    ck_assert_int_eq(r->opt->steps, steps);
    ck_assert_int_eq(s.data_position, -5);
    free(snap);
}

START_TEST(refusals_change_nothing) {
    char dir[256], ck[300], old[300], path[400], path2[400];
    scratch_dir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(old, sizeof old, "%s/old", dir);
    ag_arena *S = ag_arena_new(0);
    run a, b, c;
    build(&a, 1, AG_F32, false);
    step(&a, S);
    ag_train_state sa = state_of(&a, 1);
    ag_st_status st;
    ck_assert(ag_train_save(old, &sa, NULL, &st));
    step(&a, S);
    ck_assert(ag_train_save(ck, &sa, NULL, &st));
    build(&b, 2, AG_F32, false);
    step(&b, S);
    /* no such folder */
    expect_refused(&b, dir, AG_ST_IO, "optimizer.safetensors");
    /* another optimizer type */
    build(&c, 2, AG_F32, true);
    expect_refused(&c, ck, AG_ST_MISMATCH, "the state of an optimizer AdamW, not of SGD");
    /* the model file of another step: a save stopped between its files */
    snprintf(path, sizeof path, "%s/model.safetensors", ck);
    snprintf(path2, sizeof path2, "%s/model.safetensors", old);
    size_t n;
    unsigned char *bytes = read_all(path2, &n);
    write_raw(path, bytes, n);
    free(bytes);
    expect_refused(&b, ck, AG_ST_MISMATCH, "the model is at step 1 and the optimizer");
    /* a model file that does not fit the model (after the optimizer checked out) */
    ck_assert(ag_train_save(ck, &sa, NULL, &st));
    run d;
    build(&d, 2, AG_F32, false);
    ag_tensor *extra = ag_zeros(d.P, AG_F32, AG_SHAPE(2));
    ck_assert(ag_module_add_param(&d.root, "extra", extra));
    expect_refused(&d, ck, AG_ST_MISMATCH, "extra");
    /* a truncated optimizer file */
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ck);
    bytes = read_all(path, &n);
    write_raw(path, bytes, n - 3);
    free(bytes);
    expect_refused(&b, ck, AG_ST_DATA_SIZE, "optimizer.safetensors");
    ag_arena_free(a.P);
    ag_arena_free(b.P);
    ag_arena_free(c.P);
    ag_arena_free(d.P);
    ag_arena_free(S);
    scratch_remove(dir);
}
END_TEST

/* A run (AdamW, dtype dt) after k steps, saved into dir/ck; dir is a new
 * scratch folder (dir[256], ck[300]). */
static void saved_run(run *a, ag_arena *S, ag_dtype dt, int k, char *dir, char *ck) {
    scratch_dir(dir, 256);
    snprintf(ck, 300, "%s/ck", dir);
    build(a, 1, dt, false);
    for (int i = 0; i < k; i++) step(a, S);
    ag_train_state sa = state_of(a, k);
    ag_st_status st;
    ck_assert_msg(ag_train_save(ck, &sa, NULL, &st), "%s", st.message);
}

/* The files are plain safetensors: the model's under the module's names
 * with the program's metadata and the step; the optimizer's under
 * state.<name>.<buffer>. */
START_TEST(files_are_named_as_documented) {
    char dir[256], ck[300], path[400];
    ag_arena *S = ag_arena_new(0);
    run a;
    saved_run(&a, S, AG_BF16, 2, dir, ck);
    ag_st_status st;
    snprintf(path, sizeof path, "%s/model.safetensors", ck);
    ag_st_file *f = ag_st_open(path, &st);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(ag_st_find(f, "fc1.weight"));
    ck_assert_str_eq(ag_st_meta_get(f, "model"), "fc-ln-fc");
    ck_assert_str_eq(ag_st_meta_get(f, "step"), "2");
    ag_st_close(f);
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ck);
    f = ag_st_open(path, &st);
    ck_assert_ptr_nonnull(f);
    const ag_st_tensor *m = ag_st_find(f, "state.fc1.weight.exp_avg");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->dtype, AG_ST_F32); /* a bf16 parameter's state is f32 */
    ck_assert_ptr_nonnull(ag_st_find(f, "state.fc1.weight.exp_avg_sq"));
    ck_assert_ptr_nonnull(ag_st_find(f, "state.fc1.weight.master"));
    ck_assert_str_eq(ag_st_meta_get(f, "optimizer"), "AdamW");
    ck_assert_str_eq(ag_st_meta_get(f, "step.fc1.weight"), "2");
    ck_assert_ptr_nonnull(ag_st_meta_get(f, "rng"));
    ag_st_close(f);
    ag_arena_free(a.P);
    ag_arena_free(S);
    scratch_remove(dir);
}
END_TEST

/* The program's metadata may not name "step" (the checkpoint's own, which
 * the load checks against the optimizer's): a save given one would write a
 * checkpoint it cannot load. Refused before either file is written. */
START_TEST(program_step_key_refused_before_writing) {
    char dir[256], ck[300], path[400];
    ag_arena *S = ag_arena_new(0);
    run a;
    saved_run(&a, S, AG_F32, 1, dir, ck);
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ck);
    size_t n0, n1;
    unsigned char *before = read_all(path, &n0);
    step(&a, S);
    static const ag_st_meta with_step[] = {{"model", "fc-ln-fc"}, {"step", "99"}};
    ag_train_state sa = state_of(&a, 2);
    sa.nmeta = 2, sa.meta = with_step;
    ag_st_status st;
    ck_assert(!ag_train_save(ck, &sa, NULL, &st));
    ck_assert_int_eq(st.code, AG_ST_ARG);
    ck_assert_msg(strstr(st.message, "metadata entry 1 is \"step\", the checkpoint's own"), "%s",
                  st.message);
    unsigned char *after = read_all(path, &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0); /* the old optimizer file */
    free(before);
    free(after);
    ag_arena_free(a.P);
    ag_arena_free(S);
    scratch_remove(dir);
}
END_TEST

TCase *ckpt_train_state_tcase(void) {
    TCase *tc = tcase_create("train_state");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, resume_adamw_f32);
    tcase_add_test(tc, resume_adamw_f64);
    tcase_add_test(tc, resume_adamw_bf16_master_copies);
    tcase_add_test(tc, resume_sgd_momentum);
    tcase_add_test(tc, refusals_change_nothing);
    tcase_add_test(tc, files_are_named_as_documented);
    tcase_add_test(tc, program_step_key_refused_before_writing);
    return tc;
}
