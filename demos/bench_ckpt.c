/* demos/bench_ckpt.c — the speed of saving and loading a checkpoint.
 *
 *   bench-ckpt [--mparams M] [--repeat K] [--dir DIR]
 *
 * A module of M Linear(1000, 1000) layers without bias (M million f32
 * parameters; default 100, a 400 MB file) is saved to DIR (default /tmp)
 * with fsync (the default of ag_module_save) and without, then loaded K
 * times (default 5) from the page cache (the file was just written), the
 * median reported. The reference, measured in the same run: memcpy of the
 * same number of bytes between two buffers already touched. A load reads
 * the file through a read-only mapping and copies each tensor into its
 * parameter, so it moves the bytes once more than memcpy's source read
 * (the page-cache pages are mapped, not copied). The last lines compare:
 *   load: X ms, Y GB/s (Z x memcpy)
 */
#include <ag/ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/demo.h"
#include "common/demo_opts.h"

static double median_memcpy(size_t bytes, int k) {
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double *t = malloc(sizeof *t * (size_t)k);
    for (int i = 0; i < k; i++) {
        const double t0 = ag_demo_now();
        memcpy(b, a, bytes);
        t[i] = ag_demo_now() - t0;
        a[i] = b[bytes - 1 - (size_t)i]; /* keep the copy observable */
    }
    const double m = ag_demo_median(t, k);
    free(t);
    free(a);
    free(b);
    return m;
}

static double timed_save(ag_module *m, const char *path, bool fsync_on) {
    ag_st_status st;
    const double t0 = ag_demo_now();
    const ag_save_opts o = {.no_fsync = !fsync_on};
    if (!ag_module_save(m, path, &o, &st)) {
        fprintf(stderr, "bench-ckpt: %s\n", st.message);
        return -1;
    }
    return ag_demo_now() - t0;
}

int main(int argc, char **argv) {
    int mparams = 100, repeat = 5;
    const char *dir = "/tmp";
    const ag_demo_opt table[] = {
        {"mparams", AG_DEMO_INT, &mparams, 1, 2000, .arg = "M",
         .help = "million f32 parameters (M Linear(1000, 1000)) (100)"},
        {"repeat", AG_DEMO_INT, &repeat, 1, 1000, .arg = "K",
         .help = "timed loads and copies; the median is reported (5)"},
        {"dir", AG_DEMO_STRING, &dir, .arg = "DIR", .help = "where the file goes (/tmp)"},
    };
    const ag_demo_cmd cmd = {"bench-ckpt", "The speed of saving and loading a checkpoint.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    struct stat sb; /* refused before 400 MB are built */
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ag_demo_opts_fail(&cmd, "dir", "%s is not a folder", dir);

    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_module_list *l = ag_module_list_new(P);
    for (int i = 0; i < mparams; i++)
        ag_module_list_append(l, &ag_nn_linear_new(P, &r, 1000, 1000, false)->base);
    ag_module *m = &l->base;
    const size_t bytes = (size_t)ag_module_num_params(m) * sizeof(float);
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-ckpt-%ld.safetensors", dir, (long)getpid());

    const double save_sync = timed_save(m, path, true);
    if (save_sync < 0) return 1;
    const double save_nosync = timed_save(m, path, false);
    if (save_nosync < 0) return 1;

    double *t = malloc(sizeof *t * (size_t)repeat);
    ag_load_result res;
    if (!ag_module_load(m, path, NULL, &res)) { /* warm-up */
        fprintf(stderr, "bench-ckpt: %s\n", res.status.message);
        return 1;
    }
    for (int i = 0; i < repeat; i++) {
        const double t0 = ag_demo_now();
        ag_module_load(m, path, NULL, &res);
        t[i] = ag_demo_now() - t0;
    }
    const double load = ag_demo_median(t, repeat);
    const double copy = median_memcpy(bytes, repeat);
    unlink(path);
    free(t);
    ag_arena_free(P);
    if (copy < 0) {
        fprintf(stderr, "bench-ckpt: no memory for the memcpy reference\n");
        return 1;
    }
    const double gb = (double)bytes / 1e9;
    printf("checkpoint of %d x Linear(1000, 1000): %zu f32 parameters, %.1f MB\n", mparams,
           bytes / 4, (double)bytes / 1e6);
    printf("save with fsync:    %8.1f ms, %6.2f GB/s\n", 1e3 * save_sync, gb / save_sync);
    printf("save without fsync: %8.1f ms, %6.2f GB/s\n", 1e3 * save_nosync, gb / save_nosync);
    printf("memcpy reference:   %8.1f ms, %6.2f GB/s\n", 1e3 * copy, gb / copy);
    printf("load: %.1f ms, %.2f GB/s (%.2fx memcpy)\n", 1e3 * load, gb / load, copy / load);
    printf("(load and memcpy: median of %d after a warm-up; the file is in the page cache; "
           "GB = 1e9 bytes)\n", repeat);
    return 0;
}
