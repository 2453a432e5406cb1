/* tests/gradcheck_suite/main.c — ag-gradcheck: every differentiable op (and
 * module) against central finite differences in f64.
 *
 *   ag-gradcheck [--list] [--only NAME] [--seed S] [--verbose]
 *
 * Prints a table (op, shapes, max abs error, max rel error, result) and ends
 * with "N passed, M failed"; exits non-zero when a case fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/demo_opts.h"
#include "suite.h"

GC_DECLARE(binary);
GC_DECLARE(unary);
GC_DECLARE(reduce);
GC_DECLARE(matmul);
GC_DECLARE(shape);
GC_DECLARE(index);
GC_DECLARE(softmax_loss);
GC_DECLARE(loss);
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
    {gc_softmax_loss, &gc_softmax_loss_count}, {gc_loss, &gc_loss_count},
    {gc_cast, &gc_cast_count},
    {gc_norm_ops, &gc_norm_ops_count},         {gc_modules, &gc_modules_count},
    {gc_blocks, &gc_blocks_count},
};

/* A case whose function reports an error fails with that message instead of
 * aborting the whole suite. */
static void keep_going(const char *message, void *userdata) {
    (void)message;
    (void)userdata;
}

static bool selected(const char *op, const ag_demo_strings *only) {
    if (only->n == 0) return true;
    for (int i = 0; i < only->n; i++)
        if (strcmp(op, only->v[i]) == 0) return true;
    return false;
}

/* Returns -1 to go on, or the exit status; every --only must name a case. */
static int parse_options(int argc, char **argv, bool *list, bool *verbose,
                         unsigned long long *seed, ag_demo_strings *only) {
    const ag_demo_opt table[] = {
        {"list", AG_DEMO_FLAG, list, .help = "name every case and exit"},
        {"only", AG_DEMO_STRINGS, only, .arg = "NAME",
         .help = "run the cases of one op or module (repeatable)"},
        {"seed", AG_DEMO_SEED, seed, .arg = "S", .help = "seed for the inputs (default 1)"},
        {"verbose", AG_DEMO_FLAG, verbose, .help = "print the worst element of every input"},
    };
    const ag_demo_cmd cmd = {"ag-gradcheck",
                             "Every differentiable op and module against central finite "
                             "differences in f64.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    for (int i = 0; i < only->n; i++) {
        bool found = false;
        for (size_t a = 0; a < sizeof areas / sizeof areas[0] && !found; a++)
            for (int k = 0; k < *areas[a].count && !found; k++)
                found = strcmp(areas[a].cases[k].op, only->v[i]) == 0;
        if (!found)
            return ag_demo_opts_fail(&cmd, "only", "no case is named \"%s\" (see --list)",
                                     only->v[i]);
    }
    return -1;
}

int main(int argc, char **argv) {
    bool list = false, verbose = false;
    unsigned long long seed = 1;
    ag_demo_strings only = {.n = 0};
    const int rc = parse_options(argc, argv, &list, &verbose, &seed, &only);
    if (rc >= 0) return rc;

    const char *ops_seen[512];
    int nops = 0, passed = 0, failed = 0, index = 0;
    if (!list)
        printf("%-24s %-34s %11s %11s  %s\n", "op", "shapes", "max abs", "max rel", "result");
    ag_set_error_handler(keep_going, NULL);
    for (size_t a = 0; a < sizeof areas / sizeof areas[0]; a++) {
        for (int i = 0; i < *areas[a].count; i++, index++) {
            const gc_case *k = &areas[a].cases[i];
            if (!selected(k->op, &only)) continue;
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
