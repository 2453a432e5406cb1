/* demos/hessian.c — second derivatives at work: the sharpness of the loss
 * (its top Hessian eigenvalue) while an MLP trains with RMSNorm, with
 * LayerNorm and with no norm, and a gradient penalty trained and checked.
 *
 *   hessian [--steps N] [--every K] [--hidden H] [--layers L] [--lr LR] ... (--help)
 *
 * The task: y = sum_i sin(x_i) for a fixed, full batch of points x uniform
 * in [-3, 3]^4. The model: L hidden layers, each Linear -> norm -> GELU,
 * then Linear to one output; MSE loss; AdamW (no weight decay on biases and
 * norm weights). The three runs start from the same Linear weights.
 *
 * Every K steps, ag_hessian_top_eig (ag/hvp.h) runs power iteration on
 * Hessian-vector products of the full-batch loss, each one two backward
 * passes (the first recorded, create_graph), and the table prints the loss
 * and the eigenvalue of each run; --out DIR gets sharpness.png and loss.png
 * (with their .dat and .gp).
 *
 * Then the gradient penalty: an RMSNorm model trained on
 *     mse + lambda ||d mse / d x||^2,
 * where d mse / d x is a recorded gradient (ag_grad with create_graph), so
 * backward of the total goes through the gradient's own graph; after a few
 * steps, ag_gradcheck_module compares the parameters' gradient of that loss
 * with central differences.
 *
 * Everything is f64: the products and the finite differences want it.
 * Exit status 0; 1 when something fails or the gradient check does not pass;
 * 2 for a bad command line.
 */
#include <ag/ag.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/demo.h"
#include "common/demo_opts.h"

enum { IN = 4, NORMS = 3, MAX_LAYERS = 8 };
static const char *const NORM_NAMES[NORMS] = {"RMSNorm", "LayerNorm", "none"};

typedef struct {
    int steps, every, hidden, layers, points, iters, gp_steps;
    double lr, weight_decay, tol, lambda;
    unsigned long long seed;
    const char *out;
} options;

/* Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.steps = 300, .every = 25, .hidden = 32, .layers = 2, .points = 256,
                   .iters = 20, .gp_steps = 20, .lr = 1e-2, .weight_decay = 0.01,
                   .tol = 1e-3, .lambda = 100, .seed = 42, .out = "out/hessian"};
    const ag_demo_opt table[] = {
        {"steps", AG_DEMO_INT, &o->steps, 1, 1e6, .arg = "N", .help = "AdamW steps per run (300)"},
        {"every", AG_DEMO_INT, &o->every, 1, 1e6, .arg = "K",
         .help = "top Hessian eigenvalue every K steps (25)"},
        {"hidden", AG_DEMO_INT, &o->hidden, 1, 1024, .arg = "H",
         .help = "hidden width, 1..1024 (32)"},
        {"layers", AG_DEMO_INT, &o->layers, 1, MAX_LAYERS, .arg = "L",
         .help = "hidden layers, 1..8 (2)"},
        {"points", AG_DEMO_INT, &o->points, 1, 4096, .arg = "N",
         .help = "training points, the full batch, 1..4096 (256)"},
        {"lr", AG_DEMO_DOUBLE, &o->lr, 0, 10, .open_lo = true, .arg = "LR",
         .help = "AdamW learning rate (1e-2)"},
        {"weight-decay", AG_DEMO_DOUBLE, &o->weight_decay, 0, 1e3, .arg = "X",
         .help = "AdamW weight decay (0.01)"},
        {"iters", AG_DEMO_INT, &o->iters, 1, 10000, .arg = "N",
         .help = "power iteration: products at most (20)"},
        {"tol", AG_DEMO_DOUBLE, &o->tol, 0, 1, .open_lo = true, .arg = "X",
         .help = "power iteration: relative change that stops it (1e-3)"},
        {"gp-steps", AG_DEMO_INT, &o->gp_steps, 0, 1e6, .arg = "N",
         .help = "gradient-penalty training steps, 0: skip it (20)"},
        {"lambda", AG_DEMO_DOUBLE, &o->lambda, 0, 1e6, .arg = "X",
         .help = "weight of the gradient penalty (100)"},
        {"seed", AG_DEMO_SEED, &o->seed, .arg = "S", .help = "data and initialization (42)"},
        {"out", AG_DEMO_STRING, &o->out, .arg = "DIR",
         .help = "where sharpness.* and loss.* go (out/hessian)"},
    };
    const ag_demo_cmd cmd = {"hessian",
                             "The top Hessian eigenvalue of an MLP's loss while it trains with\n"
                             "RMSNorm, LayerNorm and no norm; a gradient penalty, checked.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    if (o->every > o->steps)
        return ag_demo_opts_fail(&cmd, "every", "%d is longer than --steps %d", o->every,
                                 o->steps);
    if (!ag_demo_dir_usable(o->out))
        return ag_demo_opts_fail(&cmd, "out", "cannot create directory \"%s\": %s", o->out,
                                 strerror(errno));
    return -1;
}

/* ---- the task and the model ---------------------------------------------------- */

/* The full batch, and the model the loss reads. */
typedef struct {
    ag_tensor *x, *y; /* [points, IN], [points, 1] */
    ag_nn_sequential *net;
    double lambda;    /* the gradient penalty's weight */
} task;

/* Points uniform in [-3, 3]^IN and y = sum_i sin(x_i), in P. */
static void make_data(ag_arena *P, ag_rng *r, int points, task *t) {
    t->x = ag_rand(P, r, AG_F64, AG_SHAPE(points, IN), -3.0, 3.0);
    AG_NO_GRAD { t->y = ag_sum(P, ag_sin(P, t->x), AG_DIMS(1), true); }
}

static ag_module *norm_of(ag_arena *P, int kind, int64_t h) {
    if (kind == 0)
        return &ag_nn_rmsnorm_new(P, AG_RMSNORM, AG_SHAPE(h), AG_EPS_DEFAULT, true)->base;
    if (kind == 1) return &ag_nn_layernorm_new(P, AG_SHAPE(h), AG_EPS_DEFAULT, true, true)->base;
    return ag_nn_activation_new(P, AG_ACT_IDENTITY);
}

/* L x (Linear -> norm -> GELU), Linear to 1; f64. The Linear weights come
 * from r alone, so two models built from equal generators share them. */
static ag_nn_sequential *make_net(ag_arena *P, ag_rng *r, int kind, const options *o) {
    ag_module *m[3 * MAX_LAYERS + 1];
    int n = 0;
    for (int l = 0; l < o->layers; l++) {
        m[n++] = &ag_nn_linear_new(P, r, l ? o->hidden : IN, o->hidden, true)->base;
        m[n++] = norm_of(P, kind, o->hidden);
        m[n++] = ag_nn_activation_new(P, AG_ACT_GELU);
    }
    m[n++] = &ag_nn_linear_new(P, r, o->hidden, 1, true)->base;
    ag_nn_sequential *net = ag_nn_sequential_of(P, m, n);
    return net && ag_module_cast(&net->base, AG_F64) ? net : NULL;
}

/* The full-batch MSE: an ag_loss_fn. */
static ag_tensor *mse(ag_arena *A, void *u) {
    const task *t = u;
    return ag_mse_loss(A, ag_nn_sequential_forward(A, t->net, t->x), t->y);
}

/* The parameters of m that require a gradient, as an array in P. */
static int params_of(ag_module *m, ag_arena *P, ag_tensor ***out) {
    ag_named_param *np;
    const int n = ag_module_parameters(m, P, &np);
    *out = n > 0 ? ag_arena_alloc(P, (size_t)n * sizeof **out) : NULL;
    if (!*out) return -1;
    for (int i = 0; i < n; i++) (*out)[i] = np[i].tensor;
    return n;
}

static ag_optim *adamw_of(ag_arena *P, ag_module *m, const options *o) {
    ag_adam_opts ao = ag_adamw_defaults();
    ao.lr = o->lr;
    return ag_adamw_new(P, ag_optim_groups_from_model(m, P, o->lr, o->weight_decay), &ao);
}

/* ---- sharpness while training ------------------------------------------------ */

typedef struct {
    double *loss;      /* [steps + 1]: loss before each step, and after the last */
    double *eig;       /* [points]: the top eigenvalue at step k * every (and at the end) */
    int *eig_iters;    /* products each took */
    bool *converged;
} history;

/* One run: trains a fresh model with norm `kind` and measures. false after
 * a message. */
static bool run(const options *o, int kind, const task *data, history *h) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, o->seed + 1); /* the weights: the same in every run */
    task t = *data;
    t.net = make_net(P, &r, kind, o);
    ag_tensor **params = NULL;
    const int np = t.net ? params_of(&t.net->base, P, &params) : -1;
    ag_optim *opt = np > 0 ? adamw_of(P, &t.net->base, o) : NULL;
    const ag_hessian_eig_opts eo = {.iters = o->iters, .tol = o->tol, .seed = o->seed};
    bool ok = opt != NULL;
    const int errors = ag_error_count();
    int last = 0;
    for (int s = 0, k = 0; ok && s <= o->steps; s++) {
        last = s;
        if (s % o->every == 0 || s == o->steps) {
            ag_hessian_eig_result er;
            ok = ag_hessian_top_eig(mse, &t, np, params, &eo, &er);
            h->eig[k] = er.eigenvalue;
            h->eig_iters[k] = er.iters;
            h->converged[k++] = er.converged;
        }
        ag_arena_reset(A);
        ag_tensor *loss = ok ? mse(A, &t) : NULL;
        ok = loss && isfinite(h->loss[s] = ag_item(loss));
        if (!ok || s == o->steps) break;
        ok = ag_backward(loss, NULL) && ag_optim_step(opt);
        ag_optim_zero_grad(opt);
    }
    if (!ok && ag_error_count() == errors) /* else the report said why */
        fprintf(stderr, "hessian: the %s run diverged (the loss is %g); try a smaller --lr\n",
                NORM_NAMES[kind], h->loss[last]);
    ag_arena_free(A);
    ag_arena_free(P);
    return ok;
}

/* The steps at which the eigenvalue is measured: 0, every, 2 every, ...,
 * and steps. */
static int eig_points(const options *o, double *at) {
    int n = 0;
    for (int s = 0; s <= o->steps; s++)
        if (s % o->every == 0 || s == o->steps) {
            if (at) at[n] = s;
            n++;
        }
    return n;
}

static void print_table(const options *o, const history *h, const double *at, int n) {
    printf("%6s", "step");
    for (int k = 0; k < NORMS; k++) printf("  %10s loss  %9s", NORM_NAMES[k], "top eig");
    printf("\n");
    for (int i = 0; i < n; i++) {
        printf("%6d", (int)at[i]);
        for (int k = 0; k < NORMS; k++)
            printf("  %15.6f  %8.3f%s", h[k].loss[(int)at[i]], h[k].eig[i],
                   h[k].converged[i] ? " " : "*");
        printf("\n");
    }
    int products = 0, unconverged = 0;
    for (int k = 0; k < NORMS; k++)
        for (int i = 0; i < n; i++) {
            products += h[k].eig_iters[i];
            unconverged += !h[k].converged[i];
        }
    printf("(%d Hessian-vector products; * marks the %d estimates that had not settled within "
           "--tol %g after --iters %d)\n", products, unconverged, o->tol, o->iters);
}

static void plots(const options *o, const history *h, const double *at, int n) {
    double *steps = malloc((size_t)(o->steps + 1) * sizeof *steps);
    if (!steps) return;
    for (int s = 0; s <= o->steps; s++) steps[s] = s;
    ag_plot_series eig[NORMS], loss[NORMS];
    for (int k = 0; k < NORMS; k++) {
        eig[k] = (ag_plot_series){.title = NORM_NAMES[k], .x = at, .y = h[k].eig, .n = n,
                                  .style = AG_PLOT_LINESPOINTS};
        loss[k] = (ag_plot_series){.title = NORM_NAMES[k], .x = steps, .y = h[k].loss,
                                   .n = o->steps + 1};
    }
    const ag_plot pe = {.title = "sharpness: the top Hessian eigenvalue of the training loss",
                        .xlabel = "AdamW step", .ylabel = "eigenvalue", .series = eig,
                        .nseries = NORMS};
    const ag_plot pl = {.title = "full-batch training loss", .xlabel = "AdamW step",
                        .ylabel = "MSE", .logy = true, .series = loss, .nseries = NORMS};
    ag_plot_outcome out;
    if (ag_demo_make_dirs(o->out)) {
        ag_plot_save(&pe, o->out, "sharpness", &out);
        printf("plots: %s\n", out.message);
        ag_plot_save(&pl, o->out, "loss", &out);
        printf("plots: %s\n", out.message);
    } else {
        fprintf(stderr, "hessian: cannot create %s: %s\n", o->out, strerror(errno));
    }
    free(steps);
}

/* ---- the gradient penalty --------------------------------------------------------- */

/* mse + lambda ||d mse / d x||^2, and the two terms in parts[0..1] when
 * parts is not NULL. Recording stays on for the inner gradient; when the
 * caller records (training, or the check's backward), d mse / d x is itself
 * recorded (create_graph), and so is the total; when it does not (the
 * check's finite differences), both are plain values. */
static ag_tensor *penalized_parts(ag_arena *A, const task *t, ag_tensor **parts) {
    const bool graph = ag_set_grad_enabled(true);
    ag_tensor *x = ag_detach(A, t->x), *gx = NULL;
    ag_set_requires_grad(x, true);
    ag_tensor *l = ag_mse_loss(A, ag_nn_sequential_forward(A, t->net, x), t->y);
    const bool ok = l && ag_grad(1, &l, NULL, 1, &x, &gx, graph);
    ag_set_grad_enabled(graph);
    if (!ok) return NULL;
    ag_tensor *pen = ag_mul_scalar(A, ag_sum(A, ag_square(A, gx), 0, NULL, false), t->lambda);
    if (parts) parts[0] = l, parts[1] = pen;
    return ag_add(A, l, pen);
}

/* The same as an ag_loss_fn, for the gradient check. */
static ag_tensor *penalized(ag_arena *A, void *u) { return penalized_parts(A, u, NULL); }

static bool gradient_penalty(const options *o, const task *data) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, o->seed + 1);
    task t = *data;
    t.lambda = o->lambda;
    t.net = make_net(P, &r, 0, o);
    ag_optim *opt = t.net ? adamw_of(P, &t.net->base, o) : NULL;
    bool ok = opt != NULL;
    printf("\ngradient penalty: RMSNorm model, loss = mse + %g ||d mse/dx||^2, %d AdamW steps\n",
           o->lambda, o->gp_steps);
    for (int s = 0; ok && s <= o->gp_steps; s++) {
        ag_arena_reset(A);
        ag_tensor *parts[2];
        ag_tensor *loss = penalized_parts(A, &t, parts);
        ok = loss != NULL;
        if (ok && (s % 5 == 0 || s == o->gp_steps))
            printf("  step %3d  loss %.6f = mse %.6f + penalty %.6f\n", s, ag_item(loss),
                   ag_item(parts[0]), ag_item(parts[1]));
        if (!ok || s == o->gp_steps) break;
        ok = ag_backward(loss, NULL) && ag_optim_step(opt);
        ag_optim_zero_grad(opt);
    }
    ag_gradcheck_params_result res = {0};
    if (ok) {
        const ag_gradcheck_params_opts co = {.samples = 4, .seed = o->seed};
        ag_gradcheck_module(&t.net->base, penalized, &t, &co, &res);
        printf("its gradient against central differences (4 coordinates per tensor):\n");
        ag_gradcheck_params_print(stdout, &res);
        printf("gradient check: %s\n", res.pass ? "pass" : "FAIL");
        if (!res.pass) fprintf(stderr, "hessian: the gradient check failed: %s\n", res.message);
    }
    ok = ok && res.pass;
    ag_gradcheck_params_free(&res);
    ag_arena_free(A);
    ag_arena_free(P);
    return ok;
}

/* A failure in the library prints its line and the run ends with status 1
 * (the default handler would abort). */
static void print_error(const char *message, void *userdata) {
    (void)userdata;
    fprintf(stderr, "%s\n", message);
}

int main(int argc, char **argv) {
    options o;
    const int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    ag_set_error_handler(print_error, NULL);
    ag_arena *D = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, o.seed);
    task data = {0};
    make_data(D, &r, o.points, &data);
    const int n = eig_points(&o, NULL);
    double *at = malloc((size_t)n * sizeof *at);
    history h[NORMS];
    bool ok = at != NULL;
    for (int k = 0; k < NORMS && ok; k++) {
        h[k] = (history){ag_arena_alloc(D, (size_t)(o.steps + 1) * sizeof(double)),
                         ag_arena_alloc(D, (size_t)n * sizeof(double)),
                         ag_arena_alloc(D, (size_t)n * sizeof(int)),
                         ag_arena_alloc(D, (size_t)n * sizeof(bool))};
        ok = h[k].loss && h[k].eig && h[k].eig_iters && h[k].converged;
    }
    if (ok) {
        eig_points(&o, at);
        printf("hessian: %d -> %d x %d (Linear, norm, GELU) -> 1, f64, y = sum sin(x_i) on %d "
               "points, AdamW lr %g, %d steps\n", IN, o.layers, o.hidden, o.points, o.lr,
               o.steps);
        printf("top Hessian eigenvalue of the full-batch loss every %d steps (power iteration)\n\n",
               o.every);
    }
    for (int k = 0; k < NORMS && ok; k++) ok = run(&o, k, &data, &h[k]);
    if (ok) {
        print_table(&o, h, at, n);
        plots(&o, h, at, n);
    }
    if (ok && o.gp_steps > 0) ok = gradient_penalty(&o, &data);
    free(at);
    ag_arena_free(D);
    return ok ? 0 : 1;
}
