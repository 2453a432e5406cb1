/* demos/mlp_demo.c — a 2-layer MLP learns which points of the plane lie
 * inside a ring, with nothing but core ops and a hand-written SGD step.
 *
 *   mlp-demo [--steps N] [--hidden H] [--lr LR] [--batch B] [--seed S]
 *
 * The data: points uniform in [-2, 2]^2, class 1 when 0.8 < |p| < 1.6.
 * The model: logits = tanh(p W1^T + b1) W2^T + b2, cross-entropy loss.
 * Parameters live in a long-lived arena; each step's inputs, activations and
 * graph live in a step arena that is reset at the top of the loop.
 */
#include <ag/ag.h>
#include <math.h>
#include <stdio.h>

#include "common/demo_opts.h"

typedef struct {
    ag_tensor *w1, *b1, *w2, *b2;
} mlp;

/* A batch of n points [n, 2] and their classes [n] (i32). */
static void make_batch(ag_arena *A, ag_rng *r, int n, ag_tensor **x, ag_tensor **y) {
    *x = ag_rand(A, r, AG_F32, AG_SHAPE(n, 2), -2.0, 2.0);
    *y = ag_empty(A, AG_I32, AG_SHAPE(n));
    const float *p = (*x)->data;
    int32_t *c = (*y)->data;
    for (int i = 0; i < n; i++) {
        double rad = hypot(p[2 * i], p[2 * i + 1]);
        c[i] = rad > 0.8 && rad < 1.6;
    }
}

static ag_tensor *param(ag_arena *P, ag_rng *r, int rows, int cols, int fan_in) {
    double bound = 1.0 / sqrt((double)fan_in); /* PyTorch's Linear init */
    ag_tensor *t = rows ? ag_rand(P, r, AG_F32, AG_SHAPE(rows, cols), -bound, bound)
                        : ag_rand(P, r, AG_F32, AG_SHAPE(cols), -bound, bound);
    ag_set_requires_grad(t, true);
    return t;
}

static ag_tensor *forward(ag_arena *A, const mlp *m, ag_tensor *x) {
    ag_tensor *h = ag_tanh(A, ag_add(A, ag_matmul(A, x, ag_transpose(A, m->w1, 0, 1)), m->b1));
    return ag_add(A, ag_matmul(A, h, ag_transpose(A, m->w2, 0, 1)), m->b2);
}

/* p -= lr * grad, then zero the gradient. */
static void sgd_step(ag_tensor *p, float lr) {
    float *w = p->data, *g = p->grad->data;
    for (int64_t i = 0; i < p->numel; i++) w[i] -= lr * g[i];
    ag_zero_grad(p);
}

static double accuracy(ag_arena *A, const mlp *m, ag_tensor *x, ag_tensor *y) {
    ag_tensor *pred = NULL;
    AG_NO_GRAD { pred = ag_argmax(A, forward(A, m, x), -1, false); }
    int hits = 0;
    for (int64_t i = 0; i < y->numel; i++)
        hits += ((int32_t *)pred->data)[i] == ((int32_t *)y->data)[i];
    return (double)hits / (double)y->numel;
}

int main(int argc, char **argv) {
    int steps = 3000, hidden = 32, batch = 128;
    double lr = 0.5;
    unsigned long long seed = 42;
    const ag_demo_opt table[] = {
        {"steps", AG_DEMO_INT, &steps, 1, 1e8, .arg = "N", .help = "SGD steps (3000)"},
        {"hidden", AG_DEMO_INT, &hidden, 1, 4096, .arg = "H",
         .help = "hidden units, up to 4096 (32)"},
        {"lr", AG_DEMO_DOUBLE, &lr, 0, 100, .open_lo = true, .arg = "LR",
         .help = "learning rate (0.5)"},
        {"batch", AG_DEMO_INT, &batch, 1, 16384, .arg = "B",
         .help = "points per step, up to 16384 (128)"},
        {"seed", AG_DEMO_SEED, &seed, .arg = "S", .help = "initialization and data (42)"},
    };
    const ag_demo_cmd cmd = {"mlp-demo", "A 2-layer MLP learns a ring in the plane.\n", table,
                             (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;

    ag_rng rng;
    ag_rng_seed(&rng, seed);
    ag_arena *params = ag_arena_new(0), *step = ag_arena_new(0);
    mlp m = {param(params, &rng, hidden, 2, 2), param(params, &rng, 0, hidden, 2),
             param(params, &rng, 2, hidden, hidden), param(params, &rng, 0, 2, hidden)};
    ag_tensor *test_x, *test_y; /* held-out points, made once */
    make_batch(params, &rng, 2000, &test_x, &test_y);

    printf("mlp-demo: 2 -> %d (tanh) -> 2, cross-entropy, SGD lr %g, batch %d, %d steps\n",
           hidden, lr, batch, steps);
    printf("task: is a point of [-2,2]^2 inside the ring 0.8 < |p| < 1.6?\n");
    const int every = steps >= 10 ? steps / 10 : 1;
    double first = NAN, last = NAN, sum = 0;
    for (int s = 1; s <= steps; s++) {
        ag_arena_reset(step);
        ag_tensor *x, *y;
        make_batch(step, &rng, batch, &x, &y);
        ag_tensor *loss = ag_cross_entropy(step, forward(step, &m, x), y, -100);
        ag_backward(loss, NULL);
        ag_tensor *ps[] = {m.w1, m.b1, m.w2, m.b2};
        for (int i = 0; i < 4; i++) sgd_step(ps[i], (float)lr);
        sum += ag_item(loss);
        if (s % every == 0) { /* the mean training loss of the last `every` steps */
            last = sum / every;
            if (isnan(first)) first = last;
            sum = 0;
            printf("step %5d  loss %.4f  held-out accuracy %.3f\n", s, last,
                   accuracy(step, &m, test_x, test_y));
        }
    }
    printf("mean loss %.4f -> %.4f; step arena peak %zu bytes, parameter arena %zu bytes\n",
           first, last, ag_arena_peak(step), ag_arena_used(params));
    ag_arena_free(step);
    ag_arena_free(params);
    if (last < first) return 0;
    fprintf(stderr, "mlp-demo: the mean loss did not fall (%.4f -> %.4f)\n", first, last);
    return 1;
}
