/* tests/checkpoint/atomic.c — a save that fails leaves the previous file
 * byte for byte and no temporary file behind: a folder that cannot hold the
 * temporary file, writes that fail part-way (a file size limit), a rename
 * that fails; and a save that succeeds replaces the file and leaves nothing
 * else. The tests may run as root, where a folder's mode does not stop
 * writes, so each failure is made another way. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_test.h"

static const char OLD[] = "the previous checkpoint";

static ag_module *model(ag_arena *P) {
    ag_rng r;
    ag_rng_seed(&r, 5);
    return &ag_nn_linear_new(P, &r, 16, 16, true)->base; /* 1088 data bytes */
}

static void expect_old(const char *path) {
    size_t n;
    unsigned char *b = read_all(path, &n);
    ck_assert_uint_eq(n, sizeof OLD);
    ck_assert(memcmp(b, OLD, n) == 0);
    free(b);
}

/* Saves to path, which must fail with AG_ST_IO and a message holding
 * needle; then old_file still holds OLD and dir holds one entry. */
static void expect_failed_save(const char *dir, const char *path, const char *needle,
                               const char *old_file) {
    ag_arena *P = ag_arena_new(0);
    ag_st_status st;
    ck_assert(!ag_module_save(model(P), path, NULL, &st));
    ck_assert_int_eq(st.code, AG_ST_IO);
    ck_assert_msg(strstr(st.message, needle), "%s", st.message);
    expect_old(old_file);
    ck_assert_int_eq(dir_entries(dir), 1);
    ag_arena_free(P);
}

START_TEST(save_replaces_and_leaves_nothing_else) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    write_raw(path, OLD, sizeof OLD);
    ag_arena *P = ag_arena_new(0);
    ag_module *m = model(P);
    ag_st_status st;
    ck_assert_msg(ag_module_save(m, path, NULL, &st), "%s", st.message); /* with fsync */
    ck_assert_int_eq(dir_entries(dir), 1);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0644);
    ag_load_result r;
    ck_assert(ag_module_load(model(P), path, NULL, &r));
    ag_arena_free(P);
    scratch_remove(dir);
}
END_TEST

/* The temporary file's name is the target's plus 11 bytes: for a target
 * whose name is 250 bytes long it exceeds NAME_MAX and cannot be made. */
START_TEST(temporary_file_cannot_be_made) {
    char dir[256], path[600];
    scratch_dir(dir, sizeof dir);
    char name[251];
    memset(name, 'c', 250);
    name[250] = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_raw(path, OLD, sizeof OLD);
    expect_failed_save(dir, path, "temporary", path);
    scratch_remove(dir);
}
END_TEST

/* A "folder" that is a regular file. */
START_TEST(folder_is_a_file) {
    char dir[256], file[300], path[320];
    scratch_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/plain", dir);
    snprintf(path, sizeof path, "%s/m.safetensors", file);
    write_raw(file, OLD, sizeof OLD);
    expect_failed_save(dir, path, path, file);
    scratch_remove(dir);
}
END_TEST

/* A read-only folder, where the mode is enforced (not for root). */
START_TEST(read_only_folder) {
    if (geteuid() == 0) return; /* root writes anyway: the cases above and below cover it */
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    write_raw(path, OLD, sizeof OLD);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    expect_failed_save(dir, path, "temporary", path);
    chmod(dir, 0755);
    scratch_remove(dir);
}
END_TEST

/* Writes that fail part-way: in a child, a file size limit of 600 bytes
 * (SIGXFSZ ignored, so write returns EFBIG) below the 1.1 kB file. */
START_TEST(write_fails_part_way) {
    char dir[256], path[300];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    write_raw(path, OLD, sizeof OLD);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {600, 600};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
        ag_arena *P = ag_arena_new(0);
        ag_st_status st;
        const bool ok = ag_module_save(model(P), path, NULL, &st);
        _exit(ok ? 1 : st.code == AG_ST_IO && strstr(st.message, "write failed") ? 0 : 2);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 0, "child: %d (1: saved, 2: wrong error)",
                  WEXITSTATUS(status));
    expect_old(path);
    ck_assert_int_eq(dir_entries(dir), 1);
    scratch_remove(dir);
}
END_TEST

/* The target is a folder: everything is written, the rename fails. */
START_TEST(rename_fails) {
    char dir[256], path[300], inside[320];
    scratch_path(dir, sizeof dir, path, sizeof path, "m.safetensors");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(inside, sizeof inside, "%s/keep", path);
    write_raw(inside, OLD, sizeof OLD);
    expect_failed_save(dir, path, "rename failed", inside);
    unlink(inside);
    scratch_remove(dir);
}
END_TEST

TCase *ckpt_atomic_tcase(void) {
    TCase *tc = tcase_create("atomic");
    tcase_add_test(tc, save_replaces_and_leaves_nothing_else);
    tcase_add_test(tc, temporary_file_cannot_be_made);
    tcase_add_test(tc, folder_is_a_file);
    tcase_add_test(tc, read_only_folder);
    tcase_add_test(tc, write_fails_part_way);
    tcase_add_test(tc, rename_fails);
    return tc;
}
