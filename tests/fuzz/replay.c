/* tests/fuzz/replay.c — the fuzz-replay test: every file of a corpus folder
 * through the loader (fuzz_one.c, which aborts on a broken promise), with no
 * fuzzer needed; and, with --seeds DIR, writes the seed corpus (the fixed
 * module saved in f32, f64 and bf16, an F16 file and one with metadata).
 *
 *   ag-fuzz-replay CORPUS_DIR      exit 0: every file kept the promises
 *   ag-fuzz-replay --seeds DIR     write the seeds */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_one.h"

static int write_seeds(const char *dir) {
    ag_arena *P = ag_arena_new(0);
    char path[4096];
    ag_st_status st;
    const ag_dtype dts[3] = {AG_F32, AG_F64, AG_BF16};
    const char *names[3] = {"f32", "f64", "bf16"};
    for (int i = 0; i < 3; i++) { /* the whole module in one dtype */
        ag_module *m = fuzz_module(P);
        ag_module_cast(m, dts[i]);
        snprintf(path, sizeof path, "%s/seed-%s.safetensors", dir, names[i]);
        if (!ag_module_save(m, path, &(ag_save_opts){.no_fsync = true}, &st)) goto fail;
    }
    /* the mixed module as it is, with metadata */
    const ag_st_meta meta[] = {{"format", "pt"}, {"step", "12"}};
    snprintf(path, sizeof path, "%s/seed-mixed-meta.safetensors", dir);
    if (!ag_module_save(fuzz_module(P), path,
                        &(ag_save_opts){.no_fsync = true, .nmeta = 2, .meta = meta}, &st))
        goto fail;
    /* F16 for every tensor (1.0 = 0x3c00, -2 = 0xc000, ...) */
    const uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x3555};
    ag_st_tensor t[6];
    for (int i = 0; i < 6; i++) {
        static const char *const tn[6] = {"0.weight", "0.bias", "1.weight",
                                          "1.bias", "2.weight", "2.bias"};
        const bool w = i % 2 == 0;
        t[i] = (ag_st_tensor){tn[i], AG_ST_F16, w ? 2 : 1, {2, 2}, h, w ? 8 : 4};
    }
    snprintf(path, sizeof path, "%s/seed-f16.safetensors", dir);
    if (!ag_st_write(path, 6, t, 0, NULL, &(ag_st_write_opts){.no_fsync = true}, &st)) goto fail;
    ag_arena_free(P);
    return 0;
fail:
    fprintf(stderr, "%s\n", st.message);
    ag_arena_free(P);
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0) return write_seeds(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR | --seeds DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "fuzz-replay: cannot open %s\n", argv[1]);
        return 1;
    }
    int files = 0, loaded = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        const long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        unsigned char *b = malloc((size_t)n + 1);
        const size_t got = fread(b, 1, (size_t)n, f);
        fclose(f);
        loaded += fuzz_one(b, got);
        free(b);
        files++;
    }
    closedir(d);
    printf("fuzz-replay: %d files, %d loaded strict, every promise kept\n", files, loaded);
    /* the corpus holds the valid seeds: a replay that loads none is broken */
    return files > 0 && loaded > 0 ? 0 : 1;
}
