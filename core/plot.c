/* core/plot.c — ag/plot.h: a plot description into a .dat and a .gp file,
 * and gnuplot run on a script. */
#include "ag/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "internal.h"

static int finish(ag_plot_outcome *out, ag_plot_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int finish(ag_plot_outcome *out, ag_plot_status st, const char *fmt, ...) {
    if (out) {
        out->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->message, sizeof out->message, fmt, ap);
        va_end(ap);
    }
    return (int)st;
}

/* ---- where the files go ------------------------------------------------------------ */

/* The longest dir and file name (or script) taken, in their shell-quoted
 * form: the buffers below hold them whole, so no path or command is ever
 * cut short into another one. */
enum { MAX_DIR = 1024, MAX_NAME = 256 };

static size_t quoted_len(const char *s) {
    size_t n = 2;
    for (; *s; s++) n += *s == '\'' ? 4 : 1;
    return n;
}

/* Reports (under op) an empty dir (the files would go to the root, "/NAME")
 * or a dir or name too long for the paths; false then. */
static bool where_ok(const char *op, const char *dir, const char *name) {
    if (!dir[0]) {
        ag__fail(op, "dir is empty: expected an existing directory (\".\" for the current one)");
        return false;
    }
    if (quoted_len(dir) > MAX_DIR || quoted_len(name) > MAX_NAME) {
        ag__fail(op, "dir of %zu characters and file name of %zu: expected at most about %d "
                 "and %d (a quote counts 4)", strlen(dir), strlen(name), MAX_DIR - 2,
                 MAX_NAME - 2);
        return false;
    }
    return true;
}

/* ---- running gnuplot ------------------------------------------------------------ */

/* s in single quotes for the shell. */
static void shell_quote(const char *s, char *q, size_t n) {
    size_t k = 0;
    if (k + 1 < n) q[k++] = '\'';
    for (; *s && k + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(q + k, "'\\''", 4);
            k += 4;
        } else {
            q[k++] = *s;
        }
    }
    if (k + 1 < n) q[k++] = '\'';
    q[k] = '\0';
}

/* The line of gnuplot's output that says what went wrong: its error line
 * ("x.gp" line 7: ..., or line 0: ...), which follows an echo of the command
 * and a caret; else the first line that is not blank. Cuts text into lines. */
static const char *gnuplot_error(char *text) {
    const char *first = NULL;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (strstr(line, "\" line ") || !strncmp(line, "line ", 5)) return line;
        if (!first && line[strspn(line, " \t^")]) first = line;
    }
    return first ? first : "no output";
}

/* Runs `cd dir && gnuplot script`: the status, the command in cmd and
 * gnuplot's error line in why. */
static ag_plot_status run_gnuplot(const char *dir, const char *script, char *cmd, size_t ncmd,
                                  char *why, size_t nwhy) {
    char qd[MAX_DIR + 1], qs[MAX_NAME + 8], line[3000], text[2048] = "";
    shell_quote(dir, qd, sizeof qd);
    shell_quote(script, qs, sizeof qs);
    snprintf(cmd, ncmd, "cd %s && gnuplot %s", qd, qs);
    snprintf(line, sizeof line, "(%s) 2>&1", cmd);
    fflush(stdout);
    FILE *p = popen(line, "r");
    int status = -1;
    if (p) {
        size_t got = fread(text, 1, sizeof text - 1, p);
        text[got] = '\0';
        status = pclose(p);
    }
    snprintf(why, nwhy, "%s", gnuplot_error(text));
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return AG_PLOT_RENDERED;
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 127) return AG_PLOT_NO_GNUPLOT;
    return AG_PLOT_GNUPLOT_FAILED;
}

int ag_plot_render_(const char *dir, const char *script, ag_plot_outcome *out) {
    if (!dir || !script) {
        ag__fail("plot_render", "%s is NULL: expected a directory and a script in it",
                 dir ? "script" : "dir");
        return finish(out, AG_PLOT_BAD_INPUT, "bad input (reported)");
    }
    if (!where_ok("plot_render", dir, script))
        return finish(out, AG_PLOT_BAD_INPUT, "bad input (reported)");
    char cmd[2800], why[256];
    ag_plot_status st = run_gnuplot(dir, script, cmd, sizeof cmd, why, sizeof why);
    if (st == AG_PLOT_RENDERED) return finish(out, st, "rendered %s/%s", dir, script);
    if (st == AG_PLOT_NO_GNUPLOT)
        return finish(out, st, "gnuplot is not installed; to render %s/%s: %s", dir, script, cmd);
    return finish(out, st, "gnuplot failed (%s); to render %s/%s: %s", why, dir, script, cmd);
}

/* ---- checking a plot ----------------------------------------------------------- */

static bool is_bars(const ag_plot *p) { return p->series[0].style == AG_PLOT_BARS; }

static bool range_ok(const char *axis, bool on, double lo, double hi, bool log_axis) {
    if (!on) return true;
    if (!(isfinite(lo) && isfinite(hi) && lo < hi) || (log_axis && lo <= 0)) {
        ag__fail("plot_save", "%s range [%g, %g]: expected finite lo < hi%s", axis, lo, hi,
                 log_axis ? ", lo > 0 on a log axis" : "");
        return false;
    }
    return true;
}

static bool plot_ok(const ag_plot *p, const char *dir, const char *name) {
    if (!p || !dir || !name) {
        ag__fail("plot_save", "%s is NULL", !p ? "plot" : !dir ? "dir" : "name");
        return false;
    }
    if (!name[0] || strpbrk(name, "/'\"\\")) {
        ag__fail("plot_save", "name \"%s\": expected a file name without /, quotes or "
                 "backslashes (NAME.dat, NAME.gp and NAME.png are written)", name);
        return false;
    }
    if (!where_ok("plot_save", dir, name)) return false;
    if (p->nseries < 1 || !p->series) {
        ag__fail("plot_save", "%d series from a %s list: expected at least one", p->nseries,
                 p->series ? "non-NULL" : "NULL");
        return false;
    }
    for (int k = 0; k < p->nseries; k++) {
        const ag_plot_series *s = &p->series[k];
        if (s->n < 0 || (!s->y && s->n > 0) || (unsigned)s->style > AG_PLOT_BARS) {
            ag__fail("plot_save", "series %d (\"%s\"): n = %d, y %s, style %d: expected n >= 0, "
                     "y values and an ag_plot_style", k, s->title ? s->title : "", s->n,
                     s->y ? "given" : "NULL", (int)s->style);
            return false;
        }
        if ((s->style == AG_PLOT_BARS) != is_bars(p)) {
            ag__fail("plot_save", "series %d is %s but series 0 is %s: bars cannot be mixed with "
                     "lines or points", k, s->style == AG_PLOT_BARS ? "bars" : "not bars",
                     is_bars(p) ? "bars" : "not bars");
            return false;
        }
        if (s->style == AG_PLOT_BARS && (s->n != p->nlabels || !p->labels)) {
            ag__fail("plot_save", "bar series %d has %d values for %d labels (%s): expected one "
                     "value per label", k, s->n, p->nlabels, p->labels ? "given" : "NULL");
            return false;
        }
    }
    return range_ok("x", p->xrange, p->xmin, p->xmax, p->logx) &&
           range_ok("y", p->yrange, p->ymin, p->ymax, p->logy);
}

/* ---- writing the files ------------------------------------------------------------ */

/* s as a gnuplot double-quoted string body: \ and " escaped, line breaks
 * as spaces. */
static void put_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('"', f);
}

static void put_y(FILE *f, double y, bool log_axis) {
    if (!isfinite(y) || (log_axis && y <= 0)) fputs(" NaN", f); /* a gap */
    else fprintf(f, " %.17g", y);
}

static void write_data(FILE *f, const ag_plot *p) {
    fprintf(f, "# %s\n", p->title ? p->title : "ag plot");
    if (is_bars(p)) {
        fprintf(f, "# category, then one column per series:");
        for (int k = 0; k < p->nseries; k++)
            fprintf(f, " [%d] %s", k + 2, p->series[k].title ? p->series[k].title : "");
        fprintf(f, "\n");
        for (int i = 0; i < p->nlabels; i++) {
            put_string(f, p->labels[i]);
            for (int k = 0; k < p->nseries; k++) put_y(f, p->series[k].y[i], p->logy);
            fprintf(f, "\n");
        }
        return;
    }
    for (int k = 0; k < p->nseries; k++) {
        const ag_plot_series *s = &p->series[k];
        fprintf(f, "%s# index %d: %s\n# x y\n", k ? "\n\n" : "", k, s->title ? s->title : "");
        for (int i = 0; i < s->n; i++) {
            if (s->x) fprintf(f, "%.17g", s->x[i]);
            else fprintf(f, "%d", i);
            put_y(f, s->y[i], p->logy);
            fprintf(f, "\n");
        }
    }
}

static void put_style(FILE *f, const ag_plot_series *s) {
    const double w = s->width > 0 ? s->width : 1;
    switch (s->style) {
    case AG_PLOT_LINES: fprintf(f, " with lines lw %g", w); break;
    case AG_PLOT_POINTS: fprintf(f, " with points pt 7 ps %g", w); break;
    case AG_PLOT_LINESPOINTS: fprintf(f, " with linespoints lw %g pt 7", w); break;
    case AG_PLOT_BARS: break; /* the histogram style is set for the plot */
    }
    if (s->dashed) fprintf(f, " dt 2");
    if (s->color) {
        fprintf(f, " lc rgb ");
        put_string(f, s->color);
    }
    if (s->title) {
        fprintf(f, " title ");
        put_string(f, s->title);
        fprintf(f, " noenhanced");
    } else {
        fprintf(f, " notitle");
    }
}

static void put_label(FILE *f, const char *what, const char *text) {
    if (!text) return;
    fprintf(f, "set %s ", what);
    put_string(f, text);
    fprintf(f, " noenhanced\n");
}

static void write_script(FILE *f, const ag_plot *p, const char *name) {
    fprintf(f, "# renders %s.png from %s.dat: gnuplot %s.gp (in this directory)\n", name, name,
            name);
    fprintf(f, "set terminal pngcairo size %d,%d enhanced font 'sans,10'\n",
            p->width > 0 ? p->width : 900, p->height > 0 ? p->height : 560);
    fprintf(f, "set output '%s.png'\n", name);
    put_label(f, "title", p->title);
    put_label(f, "xlabel", p->xlabel);
    put_label(f, "ylabel", p->ylabel);
    fprintf(f, "set grid\nset key %s\n", is_bars(p) ? "outside right top" : "top right");
    if (p->logx) fprintf(f, "set logscale x\n");
    if (p->logy) fprintf(f, "set logscale y\n");
    if (p->xrange) fprintf(f, "set xrange [%.17g:%.17g]\n", p->xmin, p->xmax);
    if (p->yrange) fprintf(f, "set yrange [%.17g:%.17g]\n", p->ymin, p->ymax);
    if (is_bars(p))
        fprintf(f, "set style data histograms\nset style histogram clustered gap 2\n"
                   "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
                   "set xtics rotate by -30 noenhanced\n");
    if (p->extra) fputs(p->extra, f);
    fprintf(f, "plot ");
    for (int k = 0; k < p->nseries; k++) {
        if (k) fprintf(f, ", \\\n     ");
        if (is_bars(p)) fprintf(f, "'%s.dat' using %d%s", name, k + 2, k ? "" : ":xtic(1)");
        else fprintf(f, "'%s.dat' index %d using 1:2", name, k);
        put_style(f, &p->series[k]);
    }
    fprintf(f, "\n");
}

/* Writes dir/name.ext with fn; false (message in out) when it cannot. */
static bool write_file(const char *dir, const char *name, const char *ext, const ag_plot *p,
                       void (*fn)(FILE *, const ag_plot *, const char *), ag_plot_outcome *out) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "w");
    if (!f) {
        finish(out, AG_PLOT_CANNOT_WRITE, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    fn(f, p, name);
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok) finish(out, AG_PLOT_CANNOT_WRITE, "cannot write %s: %s", path, strerror(errno));
    return ok;
}

static void data_fn(FILE *f, const ag_plot *p, const char *name) {
    (void)name;
    write_data(f, p);
}

int ag_plot_save_(const ag_plot *p, const char *dir, const char *name, ag_plot_outcome *out) {
    if (!plot_ok(p, dir, name)) return finish(out, AG_PLOT_BAD_INPUT, "bad input (reported)");
    if (!write_file(dir, name, "dat", p, data_fn, out) ||
        !write_file(dir, name, "gp", p, write_script, out))
        return AG_PLOT_CANNOT_WRITE;
    char script[600], cmd[2800], why[256];
    snprintf(script, sizeof script, "%s.gp", name);
    ag_plot_status st = run_gnuplot(dir, script, cmd, sizeof cmd, why, sizeof why);
    if (st == AG_PLOT_RENDERED)
        return finish(out, st, "wrote %s/%s.png (data %s.dat, script %s.gp)", dir, name, name,
                      name);
    if (st == AG_PLOT_NO_GNUPLOT)
        return finish(out, st, "gnuplot is not installed; kept %s/%s.dat and %s.gp; to render "
                      "%s.png: %s", dir, name, name, name, cmd);
    return finish(out, st, "gnuplot failed (%s); kept %s/%s.dat and %s.gp; to render %s.png: %s",
                  why, dir, name, name, name, cmd);
}
