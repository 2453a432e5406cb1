/* tests/checkpoint/util.c — scratch folders, raw files, parameter snapshots. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_test.h"

void scratch_dir(char *dir, size_t size) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/ag-ckpt-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s", dir);
}

void scratch_path(char *dir, size_t size, char *path, size_t psize, const char *name) {
    scratch_dir(dir, size);
    snprintf(path, psize, "%s/%s", dir, name);
}

void scratch_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0) rmdir(p);
        }
    closedir(d);
    rmdir(dir);
}

int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

void write_raw(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

void write_st(const char *path, const char *header, const void *data, size_t n) {
    const size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + n + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(((uint64_t)h >> (8 * i)) & 0xff);
    memcpy(b + 8, header, h);
    if (n) memcpy(b + 8 + h, data, n);
    write_raw(path, b, 8 + h + n);
    free(b);
}

unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

typedef struct {
    unsigned char *b;
    size_t n;
} snap;

static void snap_one(const ag_named_param *p, void *ud) {
    snap *s = ud;
    const size_t k = (size_t)p->tensor->numel * ag_dtype_size(p->tensor->dtype);
    s->b = realloc(s->b, s->n + k + 1);
    memcpy(s->b + s->n, p->tensor->data, k);
    s->n += k;
}

unsigned char *param_bytes(ag_module *m, size_t *n) {
    snap s = {malloc(1), 0};
    ag_module_visit_params(m, snap_one, &s);
    *n = s.n;
    return s.b;
}

void expect_unchanged(ag_module *m, const unsigned char *before, size_t n) {
    size_t k;
    unsigned char *now = param_bytes(m, &k);
    ck_assert_uint_eq(k, n);
    ck_assert_msg(memcmp(now, before, n) == 0, "the module's parameters changed");
    free(now);
}
