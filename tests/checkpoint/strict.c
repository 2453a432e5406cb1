/* tests/checkpoint/strict.c — strict and non-strict loads: what is listed,
 * what is loaded, and that a strict failure changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_test.h"

static ag_module *linear(ag_arena *P, bool bias) {
    ag_rng r;
    ag_rng_seed(&r, 9);
    return &ag_nn_linear_new(P, &r, 2, 2, bias)->base;
}

/* What ag_load_result_print writes for r, in buf. */
static const char *printed(const ag_load_result *r, char *buf, size_t size) {
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ag_load_result_print(f, r);
    rewind(f);
    const size_t n = fread(buf, 1, size - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static const float W[4] = {1, 2, 3, 4}, X[3] = {7, 8, 9};

static void write_tensors(const char *path, int n, const ag_st_tensor *t) {
    ag_st_status st;
    ck_assert_msg(ag_st_write(path, n, t, 0, NULL, &(ag_st_write_opts){.no_fsync = true}, &st),
                  "%s", st.message);
}

START_TEST(strict_lists_everything_and_changes_nothing) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    /* weight has the wrong shape, bias is missing, two are unexpected */
    const ag_st_tensor t[3] = {
        {"weight", AG_ST_F32, 2, {1, 4}, W, 16},
        {"extra", AG_ST_F32, 1, {1}, X, 4},
        {"more.extra", AG_ST_F32, 1, {2}, X + 1, 8},
    };
    write_tensors(path, 3, t);
    ag_arena *P = ag_arena_new(0);
    ag_module *m = linear(P, true);
    size_t n;
    unsigned char *before = param_bytes(m, &n);
    ag_load_result r;
    ck_assert(!ag_module_load(m, path, &(ag_load_opts){.names = P}, &r));
    ck_assert_int_eq(r.status.code, AG_ST_MISMATCH);
    ck_assert_int_eq(r.nloaded, 0);
    ck_assert_int_eq(r.nmissing, 1);
    ck_assert_str_eq(r.missing[0], "bias");
    ck_assert_int_eq(r.nunexpected, 2);
    ck_assert_str_eq(r.unexpected[0], "extra");
    ck_assert_str_eq(r.unexpected[1], "more.extra");
    ck_assert_int_eq(r.nmismatched, 1);
    ck_assert_str_eq(r.mismatched[0], "weight");
    const char *msg = r.status.message;
    ck_assert_msg(strstr(msg, path) && strstr(msg, "bias") && strstr(msg, "more.extra") &&
                  strstr(msg, "weight: F32 [1,4] in the file, f32 [2,2] in the module"),
                  "%s", msg);
    expect_unchanged(m, before, n);
    /* non-strict still refuses the wrong shape (as PyTorch does) */
    ck_assert(!ag_module_load(m, path, &(ag_load_opts){.non_strict = true}, &r));
    ck_assert_int_eq(r.status.code, AG_ST_MISMATCH);
    expect_unchanged(m, before, n);
    free(before);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

START_TEST(non_strict_loads_the_rest) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    const ag_st_tensor t[2] = {
        {"extra", AG_ST_F32, 1, {3}, X, 12},
        {"weight", AG_ST_F32, 2, {2, 2}, W, 16},
    };
    write_tensors(path, 2, t);
    ag_arena *P = ag_arena_new(0);
    ag_module *m = linear(P, true);
    float bias_before[2];
    memcpy(bias_before, ag_module_param(m, "bias")->data, sizeof bias_before);
    ag_load_result r;
    /* strict refuses */
    ck_assert(!ag_module_load(m, path, NULL, &r));
    ck_assert_int_eq(r.nmissing, 1);
    ck_assert_int_eq(r.nunexpected, 1);
    ck_assert_ptr_null(r.missing); /* no arena given: counts only */
    /* non-strict loads weight, lists bias and extra */
    ck_assert_msg(ag_module_load(m, path, &(ag_load_opts){.non_strict = true, .names = P}, &r),
                  "%s", r.status.message);
    ck_assert_int_eq(r.status.code, AG_ST_OK);
    ck_assert_int_eq(r.nloaded, 1);
    ck_assert_int_eq(r.nmissing, 1);
    ck_assert_str_eq(r.missing[0], "bias");
    ck_assert_int_eq(r.nunexpected, 1);
    ck_assert_str_eq(r.unexpected[0], "extra");
    ck_assert(memcmp(ag_module_param(m, "weight")->data, W, 16) == 0);
    ck_assert(memcmp(ag_module_param(m, "bias")->data, bias_before, 8) == 0);
    char line[256];
    ck_assert_str_eq(printed(&r, line, sizeof line),
                     "loaded 1; missing [bias]; unexpected [extra]\n");
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

START_TEST(dtype_that_cannot_convert) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    const int32_t ib[2] = {1, 2};
    const ag_st_tensor t[2] = {
        {"weight", AG_ST_F32, 2, {2, 2}, W, 16},
        {"bias", AG_ST_I32, 1, {2}, ib, 8},
    };
    write_tensors(path, 2, t);
    ag_arena *P = ag_arena_new(0);
    ag_module *m = linear(P, true);
    size_t n;
    unsigned char *before = param_bytes(m, &n);
    ag_load_result r;
    ck_assert(!ag_module_load(m, path, &(ag_load_opts){.non_strict = true, .names = P}, &r));
    ck_assert_int_eq(r.nmismatched, 1);
    ck_assert_str_eq(r.mismatched[0], "bias");
    ck_assert_msg(strstr(r.status.message, "bias: I32 [2] in the file, f32 [2] in the module"),
                  "%s", r.status.message);
    expect_unchanged(m, before, n);
    free(before);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

/* 160 missing names do not fit one message line: it ends with "...", and
 * the list holds all 160. */
START_TEST(long_lists) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "empty.safetensors");
    write_tensors(path, 0, NULL);
    ag_arena *P = ag_arena_new(0);
    ag_rng r0;
    ag_rng_seed(&r0, 1);
    ag_module_list *l = ag_module_list_new(P);
    for (int i = 0; i < 80; i++)
        ck_assert(ag_module_list_append(l, &ag_nn_linear_new(P, &r0, 2, 2, true)->base));
    ag_load_result r;
    ck_assert(!ag_module_load(&l->base, path, &(ag_load_opts){.names = P}, &r));
    ck_assert_int_eq(r.nmissing, 160);
    ck_assert_str_eq(r.missing[0], "0.weight");
    ck_assert_str_eq(r.missing[159], "79.bias");
    const size_t len = strlen(r.status.message);
    ck_assert_uint_eq(len, sizeof r.status.message - 1);
    ck_assert_str_eq(r.status.message + len - 3, "...");
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

START_TEST(print_shows_lists_counts_or_the_failure) {
    char line[256];
    const char *miss[] = {"2.weight", "2.bias"}, *unexp[] = {"1.weight"}, *bad[] = {"0.bias"};
    ag_load_result r = {.nloaded = 2, .nmissing = 2, .nunexpected = 1,
                        .missing = miss, .unexpected = unexp};
    ck_assert_str_eq(printed(&r, line, sizeof line),
                     "loaded 2; missing [2.weight, 2.bias]; unexpected [1.weight]\n");
    r.missing = r.unexpected = NULL; /* no names arena: counts */
    ck_assert_str_eq(printed(&r, line, sizeof line), "loaded 2; missing 2; unexpected 1\n");
    ag_load_result none = {.nloaded = 6};
    ag_load_result mism = {.nloaded = 1, .nmismatched = 1, .mismatched = bad};
    ck_assert_str_eq(printed(&none, line, sizeof line), "loaded 6; missing []; unexpected []\n");
    ck_assert_str_eq(printed(&mism, line, sizeof line),
                     "loaded 1; missing []; unexpected []; mismatched [0.bias]\n");
    ag_load_result failed = {.status = {AG_ST_MISMATCH, "ag: load: m.safetensors: 1 missing"}};
    ck_assert_str_eq(printed(&failed, line, sizeof line), "ag: load: m.safetensors: 1 missing\n");
    ag_load_result_print(NULL, &r); /* nothing, no crash */
    ck_assert_str_eq(printed(NULL, line, sizeof line), "");
}
END_TEST

START_TEST(null_arguments) {
    ag_load_result r;
    ag_st_status st;
    ck_assert(!ag_module_load(NULL, "x", NULL, &r));
    ck_assert_int_eq(r.status.code, AG_ST_ARG);
    ck_assert(!ag_module_save(NULL, "x", NULL, &st));
    ck_assert_int_eq(st.code, AG_ST_ARG);
    ck_assert_int_eq(ag_error_count(), 0); /* a status given: nothing reported */
}
END_TEST

static void count_report(const char *message, void *userdata) {
    (void)message;
    ++*(int *)userdata;
}

/* The last report names op, the file and this file's line, and holds what. */
static void expect_reported(int reports, const char *op, const char *path, int line,
                            const char *what) {
    const char *msg = ag_last_error();
    char want_op[64], want_site[64];
    snprintf(want_op, sizeof want_op, "ag: %s: ", op);
    snprintf(want_site, sizeof want_site, "(strict.c:%d)", line);
    ck_assert_msg(reports == 1, "%d reports; last: %s", reports, msg);
    ck_assert_msg(strncmp(msg, want_op, strlen(want_op)) == 0 && strstr(msg, path) &&
                      strstr(msg, want_site) && strstr(msg, what),
                  "\"%s\": expected %s, %s, %s, %s", msg, want_op, path, want_site, what);
}

/* Without a status to fill, a failure is reported (one line, like PyTorch
 * raising) and still changes nothing; a success reports nothing. */
START_TEST(no_status_reports_and_changes_nothing) {
    char dir[256], path[300], nowhere[400];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    snprintf(nowhere, sizeof nowhere, "%s/no/such/m.safetensors", dir);
    const ag_st_tensor t[1] = {{"weight", AG_ST_F32, 2, {2, 2}, W, 16}}; /* no bias */
    write_tensors(path, 1, t);
    int reports = 0;
    ag_set_thread_error_handler(count_report, &reports);
    ag_clear_error();
    ag_arena *P = ag_arena_new(0);
    ag_module *m = linear(P, true);
    size_t n;
    unsigned char *before = param_bytes(m, &n);

    ck_assert(!ag_module_save(m, nowhere, NULL, NULL)); const int save_line = __LINE__;
    expect_reported(reports, "module_save", nowhere, save_line, "no/such");
    ck_assert_int_eq(dir_entries(dir), 1); /* only m.safetensors */

    reports = 0;
    ck_assert(!ag_module_load(m, path, NULL, NULL)); const int load_line = __LINE__;
    expect_reported(reports, "module_load", path, load_line, "1 missing (bias)");
    expect_unchanged(m, before, n);

    ag_st_status st;
    ag_st_file *f = ag_st_open(path, &st);
    ck_assert_msg(f, "%s", st.message);
    reports = 0;
    ck_assert(!ag_module_load_file(m, f, NULL, NULL)); const int file_line = __LINE__;
    expect_reported(reports, "module_load_file", path, file_line, "nothing was loaded");
    expect_unchanged(m, before, n);
    ag_st_close(f);

    reports = 0;
    ck_assert(ag_module_load(m, path, &(ag_load_opts){.non_strict = true}, NULL));
    ck_assert(memcmp(ag_module_param(m, "weight")->data, W, 16) == 0);
    ck_assert(ag_module_save(m, path, &(ag_save_opts){.no_fsync = true}, NULL));
    ck_assert_int_eq(reports, 0);
    ag_set_thread_error_handler(NULL, NULL);
    free(before);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

TCase *ckpt_strict_tcase(void) {
    TCase *tc = tcase_create("strict");
    tcase_add_test(tc, strict_lists_everything_and_changes_nothing);
    tcase_add_test(tc, non_strict_loads_the_rest);
    tcase_add_test(tc, dtype_that_cannot_convert);
    tcase_add_test(tc, long_lists);
    tcase_add_test(tc, print_shows_lists_counts_or_the_failure);
    tcase_add_test(tc, null_arguments);
    tcase_add_test(tc, no_status_reports_and_changes_nothing);
    return tc;
}
