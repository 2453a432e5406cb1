/* demos/optim_rosenbrock.c — an optimizer walks down the Rosenbrock valley.
 *
 *   optim-rosenbrock [--opt sgd|adam|adamw] [--lr LR] [--steps N] [--start X,Y]
 *                    [--momentum M] [--nesterov] [--weight-decay WD]
 *                    [--beta1 B1] [--beta2 B2] [--eps EPS] [--amsgrad] [--plot DIR]
 *
 * Minimises f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, whose minimum is f(1, 1) = 0
 * at the end of a long, curved, flat-bottomed valley, in f64, from (-1.5, 2)
 * unless --start says otherwise. x and y are two 0-d parameters; each step
 * builds f from ag ops (rsub_scalar, square, sub, mul_scalar, add), runs
 * ag_backward for the gradient and takes one optimizer step.
 *
 * Output: one line per step, "step x y f" (the point after the step and f
 * there), then "final x y f"; numbers are printed with %.17g.
 *
 * Defaults: adamw; 2000 steps; lr 1e-3 for sgd and 1e-2 for adam and adamw;
 * sgd uses momentum 0.9 unless --momentum is given; everything else is
 * PyTorch's default for the optimizer (AdamW: weight_decay 1e-2).
 *
 * --plot DIR also runs sgd, adam and adamw (each with its own defaults; the
 * one chosen with --opt uses the flags given), writes DIR/rosenbrock.dat
 * (the three paths) and DIR/rosenbrock.gp, and runs gnuplot to draw the
 * paths over the contours of f into DIR/rosenbrock.png. Without gnuplot the
 * demo still succeeds and prints the command that renders the plot.
 */
#include <ag/ag.h>

#include "common/demo.h"
#include "common/demo_opts.h"
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NAN in a field means "the optimizer's default" (resolve()). */
typedef struct {
    const char *opt; /* "sgd", "adam", "adamw" */
    double lr, momentum, weight_decay, beta1, beta2, eps;
    bool nesterov, amsgrad;
    int steps;
    double x0, y0;
} config;

static config defaults_for(const char *opt, int steps, double x0, double y0) {
    return (config){opt, NAN, NAN, NAN, NAN, NAN, NAN, false, false, steps, x0, y0};
}

/* f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, recorded for backward. */
static ag_tensor *rosenbrock(ag_arena *A, ag_tensor *x, ag_tensor *y) {
    ag_tensor *a = ag_square(A, ag_rsub_scalar(A, 1.0, x));
    ag_tensor *b = ag_square(A, ag_sub(A, y, ag_square(A, x)));
    return ag_add(A, a, ag_mul_scalar(A, b, 100.0));
}

/* v unless NAN, else def. */
static double or_default(double v, double def) { return isnan(v) ? def : v; }

/* The optimizer c describes, over params[2], in P. */
static ag_optim *make_optim(ag_arena *P, ag_tensor **params, const config *c) {
    ag_optim_group g = ag_optim_group_of(params, 2);
    if (!strcmp(c->opt, "sgd")) {
        ag_sgd_opts s = ag_sgd_defaults();
        s.lr = or_default(c->lr, 1e-3);
        s.momentum = or_default(c->momentum, 0.9);
        s.weight_decay = or_default(c->weight_decay, s.weight_decay);
        s.nesterov = c->nesterov;
        return ag_sgd_new(P, ag_optim_groups_one(&g), &s);
    }
    bool w = !strcmp(c->opt, "adamw");
    ag_adam_opts a = w ? ag_adamw_defaults() : ag_adam_defaults();
    a.lr = or_default(c->lr, 1e-2);
    a.beta1 = or_default(c->beta1, a.beta1);
    a.beta2 = or_default(c->beta2, a.beta2);
    a.eps = or_default(c->eps, a.eps);
    a.weight_decay = or_default(c->weight_decay, a.weight_decay);
    a.amsgrad = c->amsgrad;
    return w ? ag_adamw_new(P, ag_optim_groups_one(&g), &a) : ag_adam_new(P, ag_optim_groups_one(&g), &a);
}

/* A one-line description of the optimizer actually used, for plot titles. */
static void describe(const ag_optim *o, char *buf, size_t n) {
    if (o->type == &ag_sgd_type) {
        const ag_sgd_opts *s = o->opts;
        snprintf(buf, n, "SGD lr %g, momentum %g%s%s", o->groups[0].lr, s->momentum,
                 s->nesterov ? ", nesterov" : "", o->groups[0].weight_decay != 0 ? ", wd" : "");
    } else {
        const ag_adam_opts *a = o->opts;
        snprintf(buf, n, "%s lr %g, betas (%g, %g), wd %g%s", o->name, o->groups[0].lr, a->beta1,
                 a->beta2, o->groups[0].weight_decay, a->amsgrad ? ", amsgrad" : "");
    }
}

/* Runs c. path[0..steps] receives (x, y, f) at the start and after each step
 * (when non-NULL); out receives the "step x y f" lines and the final line
 * (when non-NULL); label gets the optimizer's description. */
static bool run(const config *c, FILE *out, double (*path)[3], char *label, size_t nlabel) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_tensor *x = ag_scalar(P, AG_F64, c->x0), *y = ag_scalar(P, AG_F64, c->y0);
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(y, true);
    x->name = "x";
    y->name = "y";
    ag_tensor *params[2] = {x, y};
    ag_optim *opt = make_optim(P, params, c);
    if (!opt) {
        ag_arena_free(A);
        ag_arena_free(P);
        return false;
    }
    if (label) describe(opt, label, nlabel);
    ag_tensor *f = rosenbrock(A, x, y);
    if (path) path[0][0] = c->x0, path[0][1] = c->y0, path[0][2] = ag_item(f);
    for (int s = 1; s <= c->steps; s++) {
        ag_backward(f, NULL);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
        ag_arena_reset(A); /* f's graph is spent; build f at the new point */
        f = rosenbrock(A, x, y);
        double xv = ag_item(x), yv = ag_item(y), fv = ag_item(f);
        if (out) fprintf(out, "%d %.17g %.17g %.17g\n", s, xv, yv, fv);
        if (path) path[s][0] = xv, path[s][1] = yv, path[s][2] = fv;
    }
    if (out) fprintf(out, "final %.17g %.17g %.17g\n", ag_item(x), ag_item(y), ag_item(f));
    /* a run that diverged is a failure (exit 1), as in mlp-demo */
    const double fv = ag_item(f);
    const bool diverged = out && !isfinite(fv);
    if (diverged) /* a NaN is "nan" whatever its sign bit */
        fprintf(stderr, "optim-rosenbrock: %s diverged (f is %g); try a smaller --lr\n", opt->name,
                isnan(fv) ? fabs(fv) : fv);
    ag_arena_free(A);
    ag_arena_free(P);
    return !diverged;
}

/* ---- the plot ------------------------------------------------------------------------ */

enum { NOPT = 3 };
static const char *const OPTS[NOPT] = {"sgd", "adam", "adamw"};
static const char *const COLORS[NOPT] = {"#1f4fbf", "#f0a030", "#8e1c8e"};
/* Adam and AdamW follow nearly the same path: Adam is drawn wide, AdamW
 * narrow and dashed on top of it. */
static const char *const STYLES[NOPT] = {"lw 2", "lw 6", "lw 2 dt (5, 3)"};

/* Writes the .dat and .gp files and runs gnuplot. */
static bool plot(const char *dir, const config *chosen) {
    if (!ag_demo_make_dirs(dir)) {
        fprintf(stderr, "optim-rosenbrock: cannot create %s: %s\n", dir, strerror(errno));
        return false;
    }
    const int n = chosen->steps;
    double(*paths[NOPT])[3];
    char labels[NOPT][160];
    for (int k = 0; k < NOPT; k++) {
        config c = strcmp(chosen->opt, OPTS[k]) ? defaults_for(OPTS[k], n, chosen->x0, chosen->y0)
                                                : *chosen;
        paths[k] = malloc((size_t)(n + 1) * sizeof *paths[k]);
        if (!paths[k] || !run(&c, NULL, paths[k], labels[k], sizeof labels[k])) {
            fprintf(stderr, "optim-rosenbrock: the %s run for the plot failed\n", OPTS[k]);
            for (int j = 0; j <= k; j++) free(paths[j]);
            return false;
        }
    }
    FILE *f = ag_demo_open("optim-rosenbrock", dir, "rosenbrock.dat");
    if (!f) return false;
    fprintf(f, "# optim-rosenbrock paths: f(x,y) = (1-x)^2 + 100 (y-x^2)^2, from (%.17g, %.17g)\n",
            chosen->x0, chosen->y0);
    for (int k = 0; k < NOPT; k++) {
        fprintf(f, "%s# index %d: %s\n# step x y f\n", k ? "\n\n" : "", k, labels[k]);
        for (int s = 0; s <= n; s++)
            fprintf(f, "%d %.17g %.17g %.17g\n", s, paths[k][s][0], paths[k][s][1], paths[k][s][2]);
    }
    fclose(f);

    /* The view: [-2, 2] x [-1, 3], widened to hold the paths. */
    double x0 = -2, x1 = 2, y0 = -1, y1 = 3;
    for (int k = 0; k < NOPT; k++)
        for (int s = 0; s <= n; s++) {
            double px = paths[k][s][0], py = paths[k][s][1];
            if (!isfinite(px) || !isfinite(py) || fabs(px) > 10 || fabs(py) > 20) continue;
            x0 = fmin(x0, px - 0.1), x1 = fmax(x1, px + 0.1);
            y0 = fmin(y0, py - 0.1), y1 = fmax(y1, py + 0.1);
        }
    f = ag_demo_open("optim-rosenbrock", dir, "rosenbrock.gp");
    if (!f) {
        for (int k = 0; k < NOPT; k++) free(paths[k]);
        return false;
    }
    fprintf(f,
            "# renders rosenbrock.png from rosenbrock.dat:\n"
            "#   gnuplot rosenbrock.gp (in this directory)\n"
            "set terminal pngcairo size 960,760 enhanced font 'sans,11'\n"
            "set output 'rosenbrock.png'\n"
            "set title \"Rosenbrock f(x,y) = (1-x)^2 + 100 (y-x^2)^2: %d steps from (%g, %g)\" "
            "noenhanced\n"
            "f(x, y) = (1 - x)**2 + 100 * (y - x**2)**2\n"
            "set xrange [%g:%g]\n"
            "set yrange [%g:%g]\n"
            "set isosamples 400, 400\n"
            "set samples 400\n"
            "# contour lines of f, computed by gnuplot into a datablock\n"
            "set contour base\n"
            "set cntrparam levels discrete 1, 3, 10, 30, 100, 300, 1000\n"
            "unset surface\n"
            "set view map\n"
            "set table $contours\n"
            "splot f(x, y)\n"
            "unset table\n"
            "unset contour\n"
            "set xlabel 'x'\n"
            "set ylabel 'y'\n"
            "set cblabel 'log10 f'\n"
            "set cbrange [-3:3.5]\n"
            "set palette defined (0 '#fbfbf4', 0.5 '#eae6c8', 1 '#c9b98a')\n"
            "set key bottom right opaque box\n"
            "set label 1 'start' at %g, %g point pt 6 ps 2 lc rgb 'black' offset 1, 0.5 front\n"
            "set label 2 'minimum (1, 1)' at 1, 1 point pt 3 ps 2 lc rgb 'black' "
            "offset 1, -0.8 front\n"
            "plot '++' using 1:2:(log10(f($1, $2) + 1e-3)) with image notitle, \\\n"
            "     $contours using 1:2 with lines lc rgb '#a8a8a8' notitle",
            n, chosen->x0, chosen->y0, x0, x1, y0, y1, chosen->x0, chosen->y0);
    for (int k = 0; k < NOPT; k++)
        fprintf(f,
                ", \\\n     'rosenbrock.dat' index %d using 2:3 with lines %s lc rgb '%s' "
                "title \"%s\" noenhanced",
                k, STYLES[k], COLORS[k], labels[k]);
    fprintf(f, "\n");
    fclose(f);
    for (int k = 0; k < NOPT; k++) free(paths[k]);

    ag_plot_outcome out;
    if (ag_plot_render(dir, "rosenbrock.gp", &out) == AG_PLOT_RENDERED)
        fprintf(stderr, "plot: %s/rosenbrock.png (paths in %s/rosenbrock.dat)\n", dir, dir);
    else
        fprintf(stderr, "plot: %s\n", out.message);
    return true;
}

/* ---- main ----------------------------------------------------------------------------- */

static void print_error(const char *message, void *userdata) {
    (void)userdata;
    fprintf(stderr, "%s\n", message);
}

int main(int argc, char **argv) {
    config c = defaults_for("adamw", 2000, -1.5, 2.0);
    const char *plot_dir = NULL, *start = NULL;
    static const char *const opts[] = {"sgd", "adam", "adamw", NULL};
    /* the optimizer's constructor judges the hyperparameters (one line, exit 1) */
    const double big = 1e300;
    const ag_demo_opt table[] = {
        {"opt", AG_DEMO_STRING, &c.opt, .choices = opts, .arg = "NAME",
         .help = "sgd, adam or adamw (adamw)"},
        {"lr", AG_DEMO_DOUBLE, &c.lr, -big, big, .arg = "LR",
         .help = "learning rate (1e-3 for sgd, 1e-2 for adam and adamw)"},
        {"steps", AG_DEMO_INT, &c.steps, 0, 1e8, .arg = "N", .help = "optimizer steps (2000)"},
        {"start", AG_DEMO_STRING, &start, .arg = "X,Y", .help = "starting point (-1.5,2)"},
        {"momentum", AG_DEMO_DOUBLE, &c.momentum, -big, big, .arg = "M",
         .help = "sgd momentum (0.9)"},
        {"nesterov", AG_DEMO_FLAG, &c.nesterov, .help = "sgd: Nesterov momentum"},
        {"weight-decay", AG_DEMO_DOUBLE, &c.weight_decay, -big, big, .arg = "WD",
         .help = "weight decay (the optimizer's default)"},
        {"beta1", AG_DEMO_DOUBLE, &c.beta1, -big, big, .arg = "B1", .help = "adam(w) beta1 (0.9)"},
        {"beta2", AG_DEMO_DOUBLE, &c.beta2, -big, big, .arg = "B2",
         .help = "adam(w) beta2 (0.999)"},
        {"eps", AG_DEMO_DOUBLE, &c.eps, -big, big, .arg = "EPS", .help = "adam(w) eps (1e-8)"},
        {"amsgrad", AG_DEMO_FLAG, &c.amsgrad, .help = "adam(w): the AMSGrad variant"},
        {"plot", AG_DEMO_STRING, &plot_dir, .arg = "DIR",
         .help = "also run all three and draw DIR/rosenbrock.png"},
    };
    const ag_demo_cmd cmd = {"optim-rosenbrock",
                             "An optimizer walks down the Rosenbrock valley in f64.\n", table,
                             (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    if (start) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", start);
        char *comma = strchr(buf, ',');
        if (comma) *comma = '\0';
        if (!comma || strlen(start) >= sizeof buf || !ag_demo_parse_double(buf, &c.x0) ||
            !ag_demo_parse_double(comma + 1, &c.y0))
            return ag_demo_opts_fail(&cmd, "start", "\"%s\" is not two finite numbers X,Y",
                                     start);
    }
    if (plot_dir && !ag_demo_dir_usable(plot_dir))
        return ag_demo_opts_fail(&cmd, "plot", "cannot create directory \"%s\": %s", plot_dir,
                                 strerror(errno));
    signal(SIGPIPE, SIG_IGN); /* a reader that stops early must not kill the plot step */
    /* Bad hyperparameters (a negative lr, nesterov without momentum...) are
     * reported by the optimizer's constructor in one line; print it and exit
     * with status 1 instead of aborting. */
    ag_set_error_handler(print_error, NULL);
    if (!run(&c, stdout, NULL, NULL, 0)) return 1;
    if (plot_dir && !plot(plot_dir, &c)) return 1;
    return 0;
}
