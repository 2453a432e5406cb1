/* tests/checkpoint/roundtrip.c — save, load into a fresh module of the same
 * shape whose values all differ, equal bit for bit: every module type, in
 * f32, f64 and bf16; the header's order and alignment; conversions between
 * dtypes against values worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../demos/common/tinygpt_model.h"
#include "ckpt_test.h"

typedef ag_module *(*builder)(ag_arena *P, ag_rng *r, int which);

static ag_module *b_linear(ag_arena *P, ag_rng *r, int w) {
    (void)w;
    return &ag_nn_linear_new(P, r, 5, 3, true)->base;
}
static ag_module *b_embedding(ag_arena *P, ag_rng *r, int w) {
    (void)w;
    return &ag_nn_embedding_new(P, r, 7, 4)->base;
}
static ag_module *b_layernorm(ag_arena *P, ag_rng *r, int w) {
    (void)r;
    (void)w;
    return &ag_nn_layernorm_new(P, AG_SHAPE(6), AG_EPS_DEFAULT, true, true)->base;
}
/* which: the index of a registered norm type that has a constructor */
static ag_module *b_norm(ag_arena *P, ag_rng *r, int w) {
    (void)r;
    const ag_module_type *t[AG_NORM_REGISTRY_MAX];
    const int n = ag_norm_types(t, AG_NORM_REGISTRY_MAX);
    ck_assert_int_lt(w, n);
    return ag_norm_new(P, (ag_norm_choice){t[w], AG_EPS_DEFAULT}, 6);
}
static ag_module *b_attention(ag_arena *P, ag_rng *r, int w) {
    (void)w;
    return &ag_nn_attention_new(P, r, 8, 2, true, 0.0)->base;
}
static ag_module *b_mlp(ag_arena *P, ag_rng *r, int w) {
    (void)w;
    return &ag_nn_mlp_new(P, r, 8, 16, AG_ACT_GELU, true, 0.0)->base;
}
static ag_module *b_block(ag_arena *P, ag_rng *r, int w) {
    (void)w;
    const ag_block_config c = {.n_embd = 8, .n_head = 2, .bias = true,
                               .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA)};
    return &ag_nn_block_new(P, r, &c)->base;
}
static ag_module *b_gpt(ag_arena *P, ag_rng *r, int w) {
    (void)w;
    const ag_demo_gpt_config c = {.vocab = 11, .block_size = 6, .n_layer = 2, .n_embd = 8,
                                  .n_head = 2, .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA),
                                  .act = AG_ACT_GELU};
    return &ag_demo_gpt_new(P, &c, ag_rng_u64(r))->base;
}

/* Every parameter set to fresh normal values (through the copy API), so no
 * parameter of the second module equals the first's (norm weights start at
 * one in both). */
static void scramble(const ag_named_param *p, void *ud) {
    ag_rng *r = ud;
    double *v = malloc(sizeof *v * (size_t)(p->tensor->numel + 1));
    for (int64_t i = 0; i < p->tensor->numel; i++) v[i] = 3.0 + ag_rng_normal(r);
    ck_assert(ag_copy_array_into(p->tensor, v, AG_F64, p->tensor->numel));
    free(v);
}

typedef struct {
    ag_module *m;
    int i;
    const ag_st_file *f;
} order_check;

static void same_order(const ag_named_param *p, void *ud) {
    order_check *o = ud;
    const ag_st_tensor *t = ag_st_at(o->f, o->i++);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->name, p->name);
    ck_assert_int_eq(t->dtype, ag_st_dtype_of(p->tensor->dtype));
}

static void round_trip(builder b, int which, ag_dtype dt, const char *what) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    ag_arena *P = ag_arena_new(0);
    ag_rng r1, r2;
    ag_rng_seed(&r1, 1);
    ag_rng_seed(&r2, 2);
    ag_module *a = b(P, &r1, which), *c = b(P, &r2, which);
    ck_assert(ag_module_cast(a, dt));
    ck_assert(ag_module_cast(c, dt));
    ag_module_visit_params(c, scramble, &r2);
    size_t na, nc;
    unsigned char *pa = param_bytes(a, &na), *pc = param_bytes(c, &nc);
    ck_assert_uint_eq(na, nc);
    ck_assert_msg(na == 0 || memcmp(pa, pc, na) != 0, "%s: the two modules start equal", what);
    ag_st_status st;
    ck_assert_msg(ag_module_save(a, path, &(ag_save_opts){.no_fsync = true}, &st), "%s", st.message);
    ag_load_result res;
    ck_assert_msg(ag_module_load(c, path, NULL, &res), "%s: %s", what, res.status.message);
    ck_assert_int_eq(res.nmissing + res.nunexpected + res.nmismatched, 0);
    expect_unchanged(c, pa, na); /* c now holds a's bytes exactly */

    /* the header: names in module order, data 8-byte aligned */
    size_t n;
    unsigned char *raw = read_all(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    ck_assert_uint_eq((8 + hlen) % 8, 0);
    ck_assert_int_eq(raw[8], '{');
    ag_st_file *f = ag_st_open(path, &st);
    ck_assert_ptr_nonnull(f);
    order_check o = {a, 0, f};
    ag_module_visit_params(a, same_order, &o);
    ck_assert_int_eq(o.i, ag_st_count(f));
    ag_st_close(f);
    free(raw);
    free(pa);
    free(pc);
    ag_arena_free(P);
    scratch_remove(dir);
}

static const ag_dtype DTYPES[3] = {AG_F32, AG_F64, AG_BF16};

#define ROUND_TRIP_TEST(name, fn)                                        \
    START_TEST(name) {                                                   \
        for (int d = 0; d < 3; d++) round_trip(fn, 0, DTYPES[d], #name); \
    }                                                                    \
    END_TEST

ROUND_TRIP_TEST(rt_linear, b_linear)
ROUND_TRIP_TEST(rt_embedding, b_embedding)
ROUND_TRIP_TEST(rt_layernorm, b_layernorm)
ROUND_TRIP_TEST(rt_attention, b_attention)
ROUND_TRIP_TEST(rt_mlp, b_mlp)
ROUND_TRIP_TEST(rt_block, b_block)
ROUND_TRIP_TEST(rt_gpt, b_gpt)

/* every registered norm kind that has a constructor (LayerNorm and each
 * RMSNorm kind; the weightless one has no parameter and round-trips empty) */
START_TEST(rt_every_norm) {
    const ag_module_type *t[AG_NORM_REGISTRY_MAX];
    const int n = ag_norm_types(t, AG_NORM_REGISTRY_MAX);
    ck_assert_int_ge(n, 1 + AG_RMSNORM_KINDS);
    int made = 0;
    for (int i = 0; i < n; i++) {
        if (!ag_norm_maker(t[i])) continue;
        for (int d = 0; d < 3; d++) round_trip(b_norm, i, DTYPES[d], t[i]->name);
        made++;
    }
    ck_assert_int_ge(made, 1 + AG_RMSNORM_KINDS);
}
END_TEST

/* ---- conversions ----------------------------------------------------------- */

/* A file with one F64 tensor "weight" [2,2] and one "bias" [2], loaded into
 * Linear(2, 2) of dtype dt. */
static ag_module *load_f64(ag_arena *P, const char *dir, ag_dtype dt, const double v[6]) {
    char path[300];
    snprintf(path, sizeof path, "%s/f64.safetensors", dir);
    const ag_st_tensor t[2] = {
        {"weight", AG_ST_F64, 2, {2, 2}, v, 32},
        {"bias", AG_ST_F64, 1, {2}, v + 4, 16},
    };
    ag_st_status st;
    ck_assert_msg(ag_st_write(path, 2, t, 0, NULL, NULL, &st), "%s", st.message);
    ag_rng r;
    ag_rng_seed(&r, 3);
    ag_module *m = &ag_nn_linear_new(P, &r, 2, 2, true)->base;
    ck_assert(ag_module_cast(m, dt));
    ag_load_result res;
    ck_assert_msg(ag_module_load(m, path, NULL, &res), "%s", res.status.message);
    return m;
}

START_TEST(f64_into_bf16_rounds_once) {
    /* bf16 neighbours of 1: 1 = 0x3f80, 1 + 2^-7 = 0x3f81, 1 + 2^-6 = 0x3f82.
     * 1 + 2^-8 is the tie between 0x3f80 and 0x3f81 (ties to even: 0x3f80);
     * 2^-40 above it must go up (through f32 it would become the tie and go
     * down), 2^-40 below it down; 1 + 3 * 2^-8 ties 0x3f81/0x3f82 -> 0x3f82;
     * -(1 + 2^-8 + 2^-40) -> 0xbf81. */
    const double t = 1.0 + ldexp(1, -8), e = ldexp(1, -40);
    const double v[6] = {t, t + e, t - e, 1.0 + 3 * ldexp(1, -8), -(t + e), 0.0};
    const uint16_t want[6] = {0x3f80, 0x3f81, 0x3f80, 0x3f82, 0xbf81, 0x0000};
    char dir[256];
    scratch_dir(dir, sizeof dir);
    ag_arena *P = ag_arena_new(0);
    ag_module *m = load_f64(P, dir, AG_BF16, v);
    const uint16_t *w = ag_module_param(m, "weight")->data, *b = ag_module_param(m, "bias")->data;
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(w[i], want[i]);
    for (int i = 0; i < 2; i++) ck_assert_uint_eq(b[i], want[4 + i]);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

START_TEST(f64_into_f32_rounds_to_nearest_even) {
    /* f32 neighbours of 1: 1 and 1 + 2^-23; 1 + 2^-24 is their tie -> 1;
     * 1 + 3 * 2^-24 ties 1 + 2^-23 and 1 + 2^-22 -> 1 + 2^-22 (even) */
    const double v[6] = {1.0 + ldexp(1, -24), 1.0 + 3 * ldexp(1, -24), 1.0 + ldexp(1, -24) + ldexp(1, -50),
                         0.1, -2.5, 1e300};
    const float want[6] = {1.0f, 1.0f + 0x1p-22f, 1.0f + 0x1p-23f, 0.1f, -2.5f, INFINITY};
    char dir[256];
    scratch_dir(dir, sizeof dir);
    ag_arena *P = ag_arena_new(0);
    ag_module *m = load_f64(P, dir, AG_F32, v);
    const float *w = ag_module_param(m, "weight")->data, *b = ag_module_param(m, "bias")->data;
    for (int i = 0; i < 4; i++) ck_assert(w[i] == want[i]);
    for (int i = 0; i < 2; i++) ck_assert(b[i] == want[4 + i]);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

START_TEST(f16_read) {
    /* F16 bits: 0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24 (subnormal),
     * 0x7c00 = +inf, 0x3555 = 0x555 / 2^12 = 1365/4096 * ... = 0.333251953125,
     * 0x7bff = 65504 (the largest) */
    const uint16_t h[6] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555, 0x7bff};
    const double want[6] = {1.0, -2.0, ldexp(1, -24), INFINITY, 0.333251953125, 65504.0};
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "f16.safetensors");
    write_st(path, "{\"weight\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                   "\"bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}",
             h, 12);
    for (int d = 0; d < 3; d++) {
        ag_arena *P = ag_arena_new(0);
        ag_rng r;
        ag_rng_seed(&r, 3);
        ag_module *m = &ag_nn_linear_new(P, &r, 2, 2, true)->base;
        ck_assert(ag_module_cast(m, DTYPES[d]));
        ag_load_result res;
        ck_assert_msg(ag_module_load(m, path, NULL, &res), "%s", res.status.message);
        for (int i = 0; i < 6; i++) {
            const double got = i < 4 ? ag_get_flat(ag_module_param(m, "weight"), i)
                                     : ag_get_flat(ag_module_param(m, "bias"), i - 4);
            /* bf16 keeps 8 significant bits: 0.333251953125 -> 0.333984375
             * (0x3eab), 65504 -> 65536 (0x4780) */
            double w = want[i];
            if (DTYPES[d] == AG_BF16 && i == 4) w = 0.333984375;
            if (DTYPES[d] == AG_BF16 && i == 5) w = 65536.0;
            ck_assert_msg(got == w, "dtype %d element %d: %.17g, expected %.17g", d, i, got, w);
        }
        ag_arena_free(P);
    }
    scratch_remove(dir);
}
END_TEST

START_TEST(metadata_round_trip) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "meta.safetensors");
    const ag_st_meta meta[] = {{"format", "pt"}, {"note", "quote \" backslash \\ tab \t"}};
    const float x[3] = {1, 2, 3};
    const ag_st_tensor t = {"a.b", AG_ST_F32, 1, {3}, x, 12};
    ag_st_status st;
    ck_assert_msg(ag_st_write(path, 1, &t, 2, meta, NULL, &st), "%s", st.message);
    ag_st_file *f = ag_st_open(path, &st);
    ck_assert_msg(f != NULL, "%s", st.message);
    ck_assert_int_eq(ag_st_meta_count(f), 2);
    ck_assert_str_eq(ag_st_meta_get(f, "format"), "pt");
    ck_assert_str_eq(ag_st_meta_get(f, "note"), meta[1].value);
    ck_assert_ptr_null(ag_st_meta_get(f, "absent"));
    ck_assert_int_eq(ag_st_count(f), 1);
    ck_assert_int_eq(ag_st_index(f, "a.b"), 0);
    ck_assert_ptr_null(ag_st_find(f, "a.b")->data); /* from a file: read on demand */
    float back[3];
    ck_assert(ag_st_read_raw(f, ag_st_find(f, "a.b"), back, &st));
    ck_assert(memcmp(back, x, 12) == 0);
    ag_st_close(f);
    scratch_remove(dir);
}
END_TEST

/* A metadata key given twice: a reader would take either value (ours the
 * first, Python's json the last), so the writer refuses it and writes
 * nothing. */
START_TEST(metadata_key_twice_refused) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "meta.safetensors");
    const ag_st_meta meta[] = {{"step", "1"}, {"format", "pt"}, {"step", "2"}};
    const float x[3] = {1, 2, 3};
    const ag_st_tensor t = {"a", AG_ST_F32, 1, {3}, x, 12};
    ag_st_status st;
    ck_assert(!ag_st_write(path, 1, &t, 3, meta, NULL, &st));
    ck_assert_int_eq(st.code, AG_ST_DUPLICATE);
    ck_assert_msg(strstr(st.message, "metadata key \"step\" is given twice (entries 0 and 2)"),
                  "%s", st.message);
    ck_assert_ptr_null(ag_st_open(path, &st));
    scratch_remove(dir);
}
END_TEST

TCase *ckpt_roundtrip_tcase(void) {
    TCase *tc = tcase_create("roundtrip");
    tcase_add_test(tc, rt_linear);
    tcase_add_test(tc, rt_embedding);
    tcase_add_test(tc, rt_layernorm);
    tcase_add_test(tc, rt_every_norm);
    tcase_add_test(tc, rt_attention);
    tcase_add_test(tc, rt_mlp);
    tcase_add_test(tc, rt_block);
    tcase_add_test(tc, rt_gpt);
    tcase_add_test(tc, f64_into_bf16_rounds_once);
    tcase_add_test(tc, f64_into_f32_rounds_to_nearest_even);
    tcase_add_test(tc, f16_read);
    tcase_add_test(tc, metadata_round_trip);
    tcase_add_test(tc, metadata_key_twice_refused);
    return tc;
}
