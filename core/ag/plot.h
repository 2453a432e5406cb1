/* ag/plot.h — plots through gnuplot: loss curves, error histories on log
 * axes, benchmark bars.
 *
 * ag_plot_save writes DIR/NAME.dat (the numbers, one block per series, with
 * comments saying what each column is) and DIR/NAME.gp (a gnuplot script
 * that reads the .dat), then runs gnuplot to render DIR/NAME.png. Without
 * gnuplot the two files stay, and the outcome's message says how to render
 * them later. Nothing here aborts: gnuplot missing or failing and files that
 * cannot be written are returned as a status with a one-line message; only
 * a malformed plot description is reported (ag__fail, as any bad input).
 *
 *   double steps[100], loss[100];  ...
 *   ag_plot_series s = {.title = "train", .x = steps, .y = loss, .n = 100};
 *   ag_plot p = {.title = "loss", .xlabel = "step", .ylabel = "nats", .logy = true,
 *                .series = &s, .nseries = 1};
 *   ag_plot_outcome out;
 *   if (ag_plot_save(&p, "out", "loss", &out) != AG_PLOT_RENDERED) fprintf(stderr, "%s\n", out.message);
 *
 * A script of one's own (contours, heat maps, ...) is rendered with
 * ag_plot_render. Threads: no shared state; two calls must not write the
 * same files.
 */
#ifndef AG_PLOT_H
#define AG_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ag_plot_style {
    AG_PLOT_LINES,       /* the default */
    AG_PLOT_POINTS,
    AG_PLOT_LINESPOINTS,
    AG_PLOT_BARS,        /* clustered bars: every series of the plot must be bars */
} ag_plot_style;

/* One series: n points (x[i], y[i]); x NULL means 0, 1, ..., n-1. For bars
 * there is no x: y[i] is the bar of category i (ag_plot.labels). A y that
 * is NaN or infinite (or <= 0 on a log y axis) is written as a gap. */
typedef struct ag_plot_series {
    const char *title; /* in the legend; NULL: not shown there */
    const double *x, *y;
    int n;
    ag_plot_style style;
    const char *color; /* "#1f4fbf", "red", ...; NULL: gnuplot's next colour */
    double width;      /* line width (lines) or point size (points); 0: 1 */
    bool dashed;
} ag_plot_series;

/* A plot: a zeroed struct plus series draws with gnuplot's defaults. */
typedef struct ag_plot {
    const char *title, *xlabel, *ylabel; /* NULL: none */
    bool logx, logy;                     /* log10 axes */
    bool xrange, yrange;                 /* use [xmin, xmax] / [ymin, ymax] */
    double xmin, xmax, ymin, ymax;
    const ag_plot_series *series;
    int nseries;
    /* bars: the name of each category (the x tick labels), nlabels of them;
     * every bar series has n == nlabels */
    const char *const *labels;
    int nlabels;
    int width, height; /* pixels; 0: 900 x 560 */
    /* gnuplot commands placed after the generated settings and before the
     * plot command (e.g. "set format y '10^{%L}'\n"); NULL: none */
    const char *extra;
} ag_plot;

typedef enum ag_plot_status {
    AG_PLOT_RENDERED = 0, /* the PNG is written */
    AG_PLOT_NO_GNUPLOT,   /* gnuplot is not installed: .dat and .gp written and kept */
    AG_PLOT_GNUPLOT_FAILED, /* gnuplot ran and failed: .dat and .gp kept */
    AG_PLOT_CANNOT_WRITE, /* a file could not be written (message: which, and why) */
    AG_PLOT_BAD_INPUT,    /* reported through ag__fail; nothing written */
} ag_plot_status;

/* What happened, in one line for a person: where the PNG went, or why
 * there is none and the command that renders the kept files. */
typedef struct ag_plot_outcome {
    ag_plot_status status;
    char message[1024];
} ag_plot_outcome;

/* Writes DIR/NAME.dat and DIR/NAME.gp for p and renders DIR/NAME.png with
 * gnuplot (pngcairo). dir must exist; name is a file name without a
 * slash. Returns the status, also stored with its message in *out when out
 * is not NULL. Reports (AG_PLOT_BAD_INPUT): NULL p, dir or name; an empty
 * dir (it would mean the root, "/NAME.dat"); an empty name or one with '/'
 * or a quote; a dir longer than about 1000 characters or a name longer than
 * about 250 (paths are never cut short); nseries < 1 or series NULL; a
 * series with n < 0, y NULL with n > 0, or bars mixed with other styles;
 * bars whose n differs from nlabels, or labels NULL; a reversed or, on a log
 * axis, non-positive range. */
int ag_plot_save_(const ag_plot *p, const char *dir, const char *name, ag_plot_outcome *out);
#define ag_plot_save(...) AG_AT_INT(ag_plot_save_, __VA_ARGS__)

/* Runs gnuplot on the script DIR/SCRIPT (from within dir, so the script
 * names its files relative to it). Returns AG_PLOT_RENDERED when gnuplot
 * succeeded, AG_PLOT_NO_GNUPLOT when it is not installed (not on PATH),
 * AG_PLOT_GNUPLOT_FAILED otherwise, with a message that names the command
 * to run by hand (and, when it failed, gnuplot's error line).
 * Reports a NULL or empty dir, a NULL script, or either too long (as for
 * ag_plot_save), with AG_PLOT_BAD_INPUT. */
int ag_plot_render_(const char *dir, const char *script, ag_plot_outcome *out);
#define ag_plot_render(...) AG_AT_INT(ag_plot_render_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
