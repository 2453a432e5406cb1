/* tests/checkpoint/validate.c — one file per rule of the reader, each
 * written by hand so that it breaks exactly that rule, loaded strict and
 * non-strict into Linear(2, 2) (weight [2,2], bias [2], f32): the load fails
 * with the rule's code, the message names the file (and the tensor where
 * there is one), and the module is unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_test.h"

/* The valid file the cases start from: weight then bias, 24 data bytes. */
#define W_OK "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"
#define B_OK "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}"
static const float DATA[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static ag_module *linear(ag_arena *P) {
    ag_rng r;
    ag_rng_seed(&r, 7);
    return &ag_nn_linear_new(P, &r, 2, 2, true)->base;
}

/* Loads path both ways into a fresh Linear and checks the outcome. */
static void expect_rejected_file(const char *path, ag_st_code code, const char *tensor) {
    ag_arena *P = ag_arena_new(0);
    ag_module *m = linear(P);
    size_t n;
    unsigned char *before = param_bytes(m, &n);
    for (int non_strict = 0; non_strict < 2; non_strict++) {
        ag_load_result r;
        const ag_load_opts o = {.non_strict = non_strict, .names = P};
        ck_assert(!ag_module_load(m, path, &o, &r));
        ck_assert_msg(r.status.code == code, "code %s, expected %s: %s",
                      ag_st_code_name(r.status.code), ag_st_code_name(code), r.status.message);
        ck_assert_msg(strstr(r.status.message, path), "no file name in: %s", r.status.message);
        if (tensor) {
            char q[64];
            snprintf(q, sizeof q, "\"%s\"", tensor);
            ck_assert_msg(strstr(r.status.message, q), "no tensor %s in: %s", q,
                          r.status.message);
        }
        ck_assert_int_eq(r.nloaded, 0);
        expect_unchanged(m, before, n);
    }
    /* the format layer alone says the same */
    ag_st_status st;
    ck_assert_ptr_null(ag_st_open(path, &st));
    ck_assert_int_eq(st.code, code);
    free(before);
    ag_arena_free(P);
}

static void expect_rejected_raw(const void *bytes, size_t n, ag_st_code code) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "raw.safetensors");
    write_raw(path, bytes, n);
    expect_rejected_file(path, code, NULL);
    scratch_remove(dir);
}

static void expect_rejected(const char *header, const void *data, size_t n, ag_st_code code,
                            const char *tensor) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "bad.safetensors");
    write_st(path, header, data, n);
    expect_rejected_file(path, code, tensor);
    scratch_remove(dir);
}

START_TEST(valid_base_loads) {
    /* the starting point passes, so each case below fails for its one rule */
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "ok.safetensors");
    write_st(path, "{" W_OK "," B_OK "}", DATA, 24);
    ag_arena *P = ag_arena_new(0);
    ag_module *m = linear(P);
    ag_load_result r;
    ck_assert_msg(ag_module_load(m, path, NULL, &r), "%s", r.status.message);
    ck_assert_int_eq(r.nloaded, 2);
    ck_assert(memcmp(ag_module_param(m, "weight")->data, DATA, 16) == 0);
    ck_assert(memcmp(ag_module_param(m, "bias")->data, DATA + 4, 8) == 0);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

START_TEST(missing_file) {
    expect_rejected_file("/nonexistent-folder/none.safetensors", AG_ST_IO, NULL);
}
END_TEST

START_TEST(shorter_than_length_field) {
    expect_rejected_raw("\x10\x00\x00", 3, AG_ST_TRUNCATED);
}
END_TEST

START_TEST(header_too_large) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "huge.safetensors");
    /* 100000001 = 0x05F5E101, little-endian, then a few bytes */
    write_raw(path, "\x01\xE1\xF5\x05\x00\x00\x00\x00{}  ", 12);
    expect_rejected_file(path, AG_ST_HEADER_SIZE, NULL);
    scratch_remove(dir);
}
END_TEST

START_TEST(header_past_end) { /* says 64, has 2 */
    expect_rejected_raw("\x40\x00\x00\x00\x00\x00\x00\x00{}", 10, AG_ST_TRUNCATED);
}
END_TEST

START_TEST(not_json) {
    expect_rejected("{\"weight\": {nope", NULL, 0, AG_ST_JSON, NULL);
}
END_TEST

START_TEST(not_an_object) {
    expect_rejected("[1, 2, 3]", NULL, 0, AG_ST_JSON, NULL);
}
END_TEST

START_TEST(bytes_after_object) {
    expect_rejected("{" W_OK "," B_OK "} x", DATA, 24, AG_ST_JSON, NULL);
}
END_TEST

START_TEST(entry_not_object) {
    expect_rejected("{" W_OK ",\"bias\":[16,24]}", DATA, 24, AG_ST_ENTRY, "bias");
}
END_TEST

START_TEST(entry_lacks_field) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"data_offsets\":[16,24]}}", DATA, 24,
                    AG_ST_ENTRY, "bias");
}
END_TEST

START_TEST(duplicate_name) {
    expect_rejected("{" W_OK ",\"weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
                    DATA, 24, AG_ST_DUPLICATE, "weight");
}
END_TEST

START_TEST(unknown_dtype) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[16,24]}}",
                    DATA, 24, AG_ST_DTYPE, "bias");
}
END_TEST

START_TEST(negative_shape) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[16,24]}}",
                    DATA, 24, AG_ST_SHAPE, "bias");
}
END_TEST

START_TEST(fractional_shape) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[16,24]}}",
                    DATA, 24, AG_ST_SHAPE, "bias");
}
END_TEST

START_TEST(string_shape) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[16,24]}}",
                    DATA, 24, AG_ST_SHAPE, "bias");
}
END_TEST

START_TEST(too_many_dims) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],"
                    "\"data_offsets\":[16,24]}}", DATA, 24, AG_ST_SHAPE, "bias");
}
END_TEST

START_TEST(element_count_overflows) {
    /* 2^32 * 2^32 elements: 2^64 > INT64_MAX */
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                    "\"data_offsets\":[16,24]}}", DATA, 24, AG_ST_SHAPE, "bias");
}
END_TEST

START_TEST(byte_size_overflows) {
    /* 2^31 * 2^31 = 2^62 elements fit; times 8 bytes (F64) = 2^65 does not */
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],"
                    "\"data_offsets\":[16,24]}}", DATA, 24, AG_ST_SHAPE, "bias");
}
END_TEST

START_TEST(offsets_not_two) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16]}}",
                    DATA, 24, AG_ST_OFFSETS, "bias");
}
END_TEST

START_TEST(offsets_negative) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
                    DATA, 24, AG_ST_OFFSETS, "bias");
}
END_TEST

START_TEST(offsets_end_before_begin) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,16]}}",
                    DATA, 24, AG_ST_OFFSETS, "bias");
}
END_TEST

START_TEST(span_differs_from_size) {
    /* [2] F32 is 8 bytes; the offsets give 4 */
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,20]}}",
                    DATA, 20, AG_ST_OFFSETS, "bias");
}
END_TEST

START_TEST(overlapping) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                    DATA, 16, AG_ST_LAYOUT, "bias");
}
END_TEST

START_TEST(hole) {
    expect_rejected("{" W_OK ",\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]}}",
                    DATA, 28, AG_ST_LAYOUT, "bias");
}
END_TEST

START_TEST(hole_at_start) {
    expect_rejected("{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[4,20]},"
                    "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]}}",
                    DATA, 28, AG_ST_LAYOUT, "weight");
}
END_TEST

START_TEST(offsets_out_of_range) {
    /* the header describes 24 bytes; the file holds 20 */
    expect_rejected("{" W_OK "," B_OK "}", DATA, 20, AG_ST_DATA_SIZE, NULL);
}
END_TEST

START_TEST(data_longer) {
    expect_rejected("{" W_OK "," B_OK "}", DATA, 28, AG_ST_DATA_SIZE, NULL);
}
END_TEST

START_TEST(metadata_not_object) {
    expect_rejected("{\"__metadata__\":[\"a\"]," W_OK "," B_OK "}", DATA, 24, AG_ST_METADATA,
                    NULL);
}
END_TEST

START_TEST(metadata_not_string) {
    expect_rejected("{\"__metadata__\":{\"step\":3}," W_OK "," B_OK "}", DATA, 24, AG_ST_METADATA,
                    NULL);
}
END_TEST

START_TEST(metadata_twice) {
    expect_rejected("{\"__metadata__\":{},\"__metadata__\":{}," W_OK "," B_OK "}", DATA, 24,
                    AG_ST_DUPLICATE, NULL);
}
END_TEST

/* Every proper prefix of a valid file ag wrote fails, from a file and from
 * memory, and changes nothing. */
START_TEST(truncated_at_every_byte) {
    char dir[256], path[300], cut[320];
    scratch_path(dir, sizeof dir, path, sizeof path, "full.safetensors");
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    ag_arena *P = ag_arena_new(0);
    ag_module *src = linear(P), *m = linear(P);
    ag_st_status st;
    const ag_st_meta meta[] = {{"format", "pt"}};
    const ag_save_opts so = {.nmeta = 1, .meta = meta, .no_fsync = true};
    ck_assert_msg(ag_module_save(src, path, &so, &st), "%s", st.message);
    size_t n, k;
    unsigned char *full = read_all(path, &n);
    ck_assert_uint_gt(n, 100);
    ag_copy_array_into(ag_module_param(m, "weight"), DATA, AG_F32, 4); /* differ from src */
    unsigned char *before = param_bytes(m, &k);
    for (size_t len = 0; len < n; len++) {
        ag_load_result r;
        ag_st_file *f = ag_st_open_memory(full, len, "prefix", &st);
        ck_assert_msg(f == NULL, "a %zu-byte prefix of %zu was accepted", len, n);
        ck_assert_int_ne(st.code, AG_ST_OK);
        write_raw(cut, full, len);
        ck_assert_msg(!ag_module_load(m, cut, NULL, &r), "prefix %zu loaded", len);
        ck_assert_msg(strstr(r.status.message, cut), "%s", r.status.message);
        expect_unchanged(m, before, k);
    }
    /* and the whole file loads */
    ag_load_result r;
    ck_assert(ag_module_load(m, path, NULL, &r));
    free(before);
    free(full);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

/* A file that shrinks between open (the header and sizes were valid) and
 * the copy: the read fails with AG_ST_IO naming the file and the tensor,
 * and the result says how many tensors were loaded before it. */
START_TEST(file_shrinks_after_open) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "shrinks.safetensors");
    write_st(path, "{" W_OK "," B_OK "}", DATA, 24);
    ag_st_status st;
    ag_st_file *f = ag_st_open(path, &st);
    ck_assert_msg(f != NULL, "%s", st.message);
    size_t n;
    unsigned char *full = read_all(path, &n);
    write_raw(path, full, n - 4); /* bias loses its last 4 bytes */
    ag_arena *P = ag_arena_new(0);
    ag_module *m = linear(P);
    ag_load_result r;
    ck_assert(!ag_module_load_file(m, f, NULL, &r));
    ck_assert_int_eq(r.status.code, AG_ST_IO);
    ck_assert_int_eq(r.nloaded, 1);
    ck_assert_msg(strncmp(r.status.message, "ag: load: /", 11) == 0 &&
                  strstr(r.status.message, path) && strstr(r.status.message, "\"bias\"") &&
                  strstr(r.status.message, "1 of the module's tensors were loaded"),
                  "%s", r.status.message);
    ag_st_close(f);
    free(full);
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

TCase *ckpt_validate_tcase(void) {
    TCase *tc = tcase_create("validate");
    tcase_add_test(tc, valid_base_loads);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, shorter_than_length_field);
    tcase_add_test(tc, header_too_large);
    tcase_add_test(tc, header_past_end);
    tcase_add_test(tc, not_json);
    tcase_add_test(tc, not_an_object);
    tcase_add_test(tc, bytes_after_object);
    tcase_add_test(tc, entry_not_object);
    tcase_add_test(tc, entry_lacks_field);
    tcase_add_test(tc, duplicate_name);
    tcase_add_test(tc, unknown_dtype);
    tcase_add_test(tc, negative_shape);
    tcase_add_test(tc, fractional_shape);
    tcase_add_test(tc, string_shape);
    tcase_add_test(tc, too_many_dims);
    tcase_add_test(tc, element_count_overflows);
    tcase_add_test(tc, byte_size_overflows);
    tcase_add_test(tc, offsets_not_two);
    tcase_add_test(tc, offsets_negative);
    tcase_add_test(tc, offsets_end_before_begin);
    tcase_add_test(tc, span_differs_from_size);
    tcase_add_test(tc, overlapping);
    tcase_add_test(tc, hole);
    tcase_add_test(tc, hole_at_start);
    tcase_add_test(tc, offsets_out_of_range);
    tcase_add_test(tc, data_longer);
    tcase_add_test(tc, metadata_not_object);
    tcase_add_test(tc, metadata_not_string);
    tcase_add_test(tc, metadata_twice);
    tcase_add_test(tc, truncated_at_every_byte);
    tcase_add_test(tc, file_shrinks_after_open);
    return tc;
}
