/* tests/gradcheck_suite/main.c — ag-gradcheck: every differentiable op (and
 * module) against central finite differences in f64.
 *
 *   ag-gradcheck [--list] [--only NAME] [--seed S] [--verbose]
 *
 * Prints a table (op, shapes, max abs error, max rel error, result) and ends
 * with "N passed, M failed"; exits non-zero when a case fails.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"

GC_DECLARE(binary);
GC_DECLARE(unary);
GC_DECLARE(reduce);
GC_DECLARE(matmul);
GC_DECLARE(shape);
GC_DECLARE(index);
GC_DECLARE(softmax_loss);
GC_DECLARE(cast);
GC_DECLARE(norm_ops);
GC_DECLARE(modules);
GC_DECLARE(blocks);

static const struct {
    const gc_case *cases;
    const int *count;
} areas[] = {
    {gc_binary, &gc_binary_count}, {gc_unary, &gc_unary_count},
    {gc_reduce, &gc_reduce_count}, {gc_matmul, &gc_matmul_count},
    {gc_shape, &gc_shape_count},   {gc_index, &gc_index_count},
    {gc_softmax_loss, &gc_softmax_loss_count}, {gc_cast, &gc_cast_count},
    {gc_norm_ops, &gc_norm_ops_count},         {gc_modules, &gc_modules_count},
    {gc_blocks, &gc_blocks_count},
};

/* A case whose function reports an error fails with that message instead of
 * aborting the whole suite. */
static void keep_going(const char *message, void *userdata) {
    (void)message;
    (void)userdata;
}

static void usage(FILE *f) {
    fprintf(f, "usage: ag-gradcheck [--list] [--only NAME] [--seed S] [--verbose]\n"
               "  --list       name every case and exit\n"
               "  --only NAME  run the cases of one op or module (repeatable)\n"
               "  --seed S     seed for the inputs (default 1)\n"
               "  --verbose    print the worst element of every input\n");
}

static bool selected(const char *op, char **only, int nonly) {
    if (nonly == 0) return true;
    for (int i = 0; i < nonly; i++)
        if (strcmp(op, only[i]) == 0) return true;
    return false;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"list", no_argument, 0, 'l'},    {"only", required_argument, 0, 'o'},
        {"seed", required_argument, 0, 's'}, {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},    {0, 0, 0, 0},
    };
    bool list = false, verbose = false;
    unsigned long long seed = 1;
    char *only[64];
    int nonly = 0, c;
    while ((c = getopt_long(argc, argv, "lo:s:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': list = true; break;
        case 'o':
            if (nonly < 64) only[nonly++] = optarg;
            break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'v': verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }

    const char *ops_seen[512];
    int nops = 0, passed = 0, failed = 0, index = 0;
    if (!list)
        printf("%-24s %-34s %11s %11s  %s\n", "op", "shapes", "max abs", "max rel", "result");
    ag_set_error_handler(keep_going, NULL);
    for (size_t a = 0; a < sizeof areas / sizeof areas[0]; a++) {
        for (int i = 0; i < *areas[a].count; i++, index++) {
            const gc_case *k = &areas[a].cases[i];
            if (!selected(k->op, only, nonly)) continue;
            bool seen = false;
            for (int j = 0; j < nops; j++) seen = seen || strcmp(ops_seen[j], k->op) == 0;
            if (!seen && nops < 512) ops_seen[nops++] = k->op;
            if (list) {
                printf("%-24s %s\n", k->op, k->shapes);
                continue;
            }
            ag_arena *A = ag_arena_new(0);
            ag_rng r;
            ag_rng_seed(&r, seed * 1000003ull + (unsigned long long)index);
            ag_tensor *in[AG_GRADCHECK_MAX_INPUTS] = {0};
            ag_clear_error();
            int n = gc_make_inputs(k, A, &r, in);
            ag_gradcheck_result res = {0};
            bool ok = n > 0 && ag_error_count() == 0 &&
                      ag_gradcheck(k->fn, n, in, k->userdata, &k->opts, &res) &&
                      ag_error_count() == 0;
            printf("%-24s %-34s %11.3e %11.3e  %s\n", k->op, k->shapes, res.max_abs_err,
                   res.max_rel_err, ok ? "pass" : "FAIL");
            if (!ok) {
                const char *why = ag_error_count() ? ag_last_error() : res.message;
                printf("    %s\n", why[0] ? why : "inputs could not be made");
            }
            if (verbose || !ok) ag_gradcheck_print(stdout, &res, in);
            ok ? passed++ : failed++;
            ag_arena_free(A);
        }
    }
    if (list) {
        printf("%d ops and modules\n", nops);
        return 0;
    }
    printf("ops and modules checked: %d\n", nops);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
