/* demos/bench_optim.c — the time of one optimizer step over many parameters.
 *
 *   bench-optim [--params N] [--steps K]
 *
 * One f32 parameter tensor of N elements (default 10,000,000) with a
 * gradient; after two warm-up steps (they allocate the state and touch its
 * pages), K timed steps (default 9); the median is reported, with the bytes
 * the step must move divided by that time:
 *
 *   adamw f32: read p, g, m, v; write p, m, v        28 bytes per parameter
 *   sgd (momentum) f32: read p, g, b; write p, b     20 bytes
 *   adamw bf16 (f32 master): read p, g (2 each), master, m, v; write p (2),
 *                            master, m, v            30 bytes
 *
 * The reference, measured in the same run: ag_add of two N-element f32
 * tensors (read 2, write 1: 12 bytes per element), the streaming rate ag's
 * own threaded elementwise kernels reach on this machine. The first line is
 *   adamw step, 10000000 f32 params: X ms, Y GB/s
 */
#include <ag/ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/demo.h"
#include "common/demo_opts.h"

typedef enum { ADAMW_F32, SGD_F32, ADAMW_BF16 } bench_kind;

/* Median seconds of one step of kind over n parameters. */
static double time_step(bench_kind kind, int64_t n, int steps) {
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 7);
    ag_dtype dt = kind == ADAMW_BF16 ? AG_BF16 : AG_F32;
    ag_tensor *p = ag_randn(P, &r, dt, AG_SHAPE(n), 0.0, 1.0);
    ag_set_requires_grad(p, true);
    p->grad = ag_randn(P, &r, dt, AG_SHAPE(n), 0.0, 1e-2);
    ag_optim_group g = ag_optim_group_of(&p, 1);
    ag_sgd_opts s = ag_sgd_defaults();
    s.momentum = 0.9;
    ag_optim *o = kind == SGD_F32 ? ag_sgd_new(P, ag_optim_groups_one(&g), &s) : ag_adamw_new(P, ag_optim_groups_one(&g), NULL);
    ag_optim_step(o); /* warm-up: state allocated, pages touched */
    ag_optim_step(o);
    double *t = malloc((size_t)steps * sizeof *t);
    for (int i = 0; i < steps; i++) {
        double t0 = ag_demo_now();
        ag_optim_step(o);
        t[i] = ag_demo_now() - t0;
    }
    double m = ag_demo_median(t, steps);
    free(t);
    ag_arena_free(P);
    return m;
}

/* Median seconds of ag_add over two n-element f32 tensors. */
static double time_add(int64_t n, int steps) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 8);
    ag_tensor *a = ag_randn(P, &r, AG_F32, AG_SHAPE(n), 0.0, 1.0);
    ag_tensor *b = ag_randn(P, &r, AG_F32, AG_SHAPE(n), 0.0, 1.0);
    ag_add(A, a, b); /* warm-up: the result block exists and is touched */
    ag_arena_reset(A);
    ag_add(A, a, b);
    double *t = malloc((size_t)steps * sizeof *t);
    for (int i = 0; i < steps; i++) {
        ag_arena_reset(A);
        double t0 = ag_demo_now();
        ag_add(A, a, b);
        t[i] = ag_demo_now() - t0;
    }
    double m = ag_demo_median(t, steps);
    free(t);
    ag_arena_free(A);
    ag_arena_free(P);
    return m;
}

int main(int argc, char **argv) {
    int64_t n = 10000000;
    int steps = 9;
    const ag_demo_opt table[] = {
        {"params", AG_DEMO_INT64, &n, 1, 268435456, .arg = "N",
         .help = "f32 parameters, up to 2^28 (10000000)"},
        {"steps", AG_DEMO_INT, &steps, 5, 100000, .arg = "K",
         .help = "timed steps, >= 5; the median is reported (9)"},
    };
    const ag_demo_cmd cmd = {"bench-optim",
                             "The time of one optimizer step over many parameters.\n", table,
                             (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    static const struct {
        bench_kind kind;
        const char *name, *dtype;
        double bytes;
    } runs[] = {
        {ADAMW_F32, "adamw", "f32", 28},
        {SGD_F32, "sgd (momentum)", "f32", 20},
        {ADAMW_BF16, "adamw", "bf16 (f32 master)", 30},
    };
    double ref = time_add(n, steps);
    double ref_gbs = 12.0 * (double)n / ref / 1e9;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        double t = time_step(runs[i].kind, n, steps);
        double gbs = runs[i].bytes * (double)n / t / 1e9;
        printf("%s step, %lld %s params: %.2f ms, %.1f GB/s (%.2fx the reference)\n",
               runs[i].name, (long long)n, runs[i].dtype, 1e3 * t, gbs, gbs / ref_gbs);
    }
    printf("reference: ag_add of two %lld-element f32 tensors (12 bytes/element): %.2f ms, "
           "%.1f GB/s\n", (long long)n, 1e3 * ref, ref_gbs);
    printf("(median of %d timed steps after 2 warm-up steps; GB = 1e9 bytes)\n", steps);
    return 0;
}
