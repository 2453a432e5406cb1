/* tests/plot/main.c — ag/plot.h: the .dat and .gp files written for lines
 * and bars (their content against text written out by hand), the PNG when
 * gnuplot is there, the outcome when it is not (a PATH without it), when it
 * fails, and when the directory cannot be written; bad plot descriptions,
 * an empty or too long directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check_main.h"
#include "../ops/ops_test.h"

static char dir[64];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/ag-plot-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "/bin/rm -rf '%s'", dir); /* PATH may have been cut */
    ck_assert_int_eq(system(cmd), 0);
}

/* The whole of dir/name, in a static buffer. */
static const char *slurp(const char *name) {
    static char buf[8192];
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s was not written", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool exists(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static bool have_gnuplot(void) { return system("command -v gnuplot >/dev/null 2>&1") == 0; }

static const double X[] = {1, 2, 4}, Y[] = {0.5, -1, NAN}, Z[] = {3, 0.25};

/* Two series, one without x; a NaN and, on the log axis, a negative value
 * become gaps. */
static ag_plot two_series(ag_plot_series *s) {
    s[0] = (ag_plot_series){.title = "train \"a\"", .x = X, .y = Y, .n = 3};
    s[1] = (ag_plot_series){.y = Z, .n = 2, .style = AG_PLOT_POINTS, .color = "#123456",
                            .dashed = true, .width = 2};
    return (ag_plot){.title = "loss", .xlabel = "step", .ylabel = "nats", .logy = true,
                     .series = s, .nseries = 2};
}

START_TEST(lines_dat_and_gp) {
    ag_plot_series s[2];
    ag_plot p = two_series(s);
    ag_plot_outcome out;
    const int st = ag_plot_save(&p, dir, "curve", &out);
    ck_assert_int_eq(st, (int)out.status);
    ck_assert_str_eq(slurp("curve.dat"), "# loss\n"
                                         "# index 0: train \"a\"\n# x y\n"
                                         "1 0.5\n2 NaN\n4 NaN\n"
                                         "\n\n# index 1: \n# x y\n"
                                         "0 3\n1 0.25\n");
    const char *gp = slurp("curve.gp");
    const char *want[] = {
        "set terminal pngcairo size 900,560",
        "set output 'curve.png'\n",
        "set title \"loss\" noenhanced\n",
        "set xlabel \"step\" noenhanced\n",
        "set logscale y\n",
        "plot 'curve.dat' index 0 using 1:2 with lines lw 1 "
        "title \"train \\\"a\\\"\" noenhanced, \\\n"
        "     'curve.dat' index 1 using 1:2 with points pt 7 ps 2 dt 2 "
        "lc rgb \"#123456\" notitle\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(gp, want[i]), "curve.gp lacks\n%s\nin\n%s", want[i], gp);
    ck_assert_ptr_null(strstr(gp, "set logscale x"));
    if (have_gnuplot()) {
        ck_assert_int_eq(st, AG_PLOT_RENDERED);
        ck_assert_msg(strstr(out.message, "wrote ") && strstr(out.message, "/curve.png"), "%s",
                      out.message);
        ck_assert(!memcmp(slurp("curve.png"), "\x89PNG", 4));
    } else {
        ck_assert_int_eq(st, AG_PLOT_NO_GNUPLOT);
    }
}
END_TEST

START_TEST(bars_dat_and_gp) {
    const char *labels[] = {"rms fwd", "ln \"bwd\""};
    const ag_plot_series s[] = {{.title = "64x64", .y = (double[]){1.5, 2}, .n = 2,
                                 .style = AG_PLOT_BARS},
                                {.title = "8x8", .y = (double[]){3, 0.125}, .n = 2,
                                 .style = AG_PLOT_BARS}};
    const ag_plot p = {.ylabel = "GB/s", .series = s, .nseries = 2, .labels = labels,
                       .nlabels = 2, .width = 1400, .height = 700};
    ag_plot_outcome out;
    ag_plot_save(&p, dir, "bars", &out);
    ck_assert_str_eq(slurp("bars.dat"),
                     "# ag plot\n"
                     "# category, then one column per series: [2] 64x64 [3] 8x8\n"
                     "\"rms fwd\" 1.5 3\n"
                     "\"ln \\\"bwd\\\"\" 2 0.125\n");
    const char *gp = slurp("bars.gp");
    ck_assert_ptr_nonnull(strstr(gp, "size 1400,700"));
    ck_assert_ptr_nonnull(strstr(gp, "set style data histograms\n"));
    ck_assert_msg(strstr(gp, "plot 'bars.dat' using 2:xtic(1) title \"64x64\" noenhanced, \\\n"
                             "     'bars.dat' using 3 title \"8x8\" noenhanced\n"),
                  "%s", gp);
    if (have_gnuplot()) ck_assert_int_eq(out.status, AG_PLOT_RENDERED);
}
END_TEST

/* gnuplot not on PATH: the files stay, no PNG, the message says how to
 * render them. */
START_TEST(without_gnuplot) {
    char empty[96];
    snprintf(empty, sizeof empty, "%s/empty-path", dir);
    ck_assert_int_eq(mkdir(empty, 0700), 0);
    ck_assert_int_eq(setenv("PATH", empty, 1), 0);
    ag_plot_series s[2];
    ag_plot p = two_series(s);
    ag_plot_outcome out;
    ck_assert_int_eq(ag_plot_save(&p, dir, "curve", &out), AG_PLOT_NO_GNUPLOT);
    ck_assert_int_eq(out.status, AG_PLOT_NO_GNUPLOT);
    ck_assert_msg(strstr(out.message, "gnuplot is not installed; kept ") &&
                      strstr(out.message, "/curve.dat and curve.gp; to render curve.png: cd '") &&
                      strstr(out.message, "' && gnuplot 'curve.gp'"),
                  "%s", out.message);
    ck_assert(exists("curve.dat") && exists("curve.gp") && !exists("curve.png"));
    ck_assert_int_eq(ag_plot_render(dir, "curve.gp", NULL), AG_PLOT_NO_GNUPLOT);
}
END_TEST

/* gnuplot refusing the script is a status, not an abort. */
START_TEST(gnuplot_failing) {
    if (!have_gnuplot()) return;
    ag_plot_series s[2];
    ag_plot p = two_series(s);
    p.extra = "this is not a gnuplot command\n";
    ag_plot_outcome out;
    ck_assert_int_eq(ag_plot_save(&p, dir, "broken", &out), AG_PLOT_GNUPLOT_FAILED);
    ck_assert_msg(strstr(out.message, "gnuplot failed (") && strstr(out.message, "kept "), "%s",
                  out.message);
    ck_assert(exists("broken.dat") && exists("broken.gp"));
    ck_assert_int_eq(ag_plot_render(dir, "no-such.gp", &out), AG_PLOT_GNUPLOT_FAILED);
    ck_assert_ptr_nonnull(strstr(out.message, "to render "));
    /* every y a gap: gnuplot echoes the plot command, a caret, then its error
     * line (a blank line first); the message quotes the error line */
    static const double gaps[] = {NAN, INFINITY, NAN};
    const ag_plot_series g = {.y = gaps, .n = 3};
    const ag_plot pg = {.series = &g, .nseries = 1};
    ck_assert_int_eq(ag_plot_save(&pg, dir, "gaps", &out), AG_PLOT_GNUPLOT_FAILED);
    ck_assert_msg(strstr(out.message, "gnuplot failed (\"gaps.gp\" line "), "%s", out.message);
}
END_TEST

/* A directory that cannot be written (a path through a file, a missing
 * directory): a status and the reason, no report. */
START_TEST(unwritable_directory) {
    char file[96], sub[128];
    snprintf(file, sizeof file, "%s/a-file", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(sub, sizeof sub, "%s/sub", file);
    ag_plot_series s[2];
    ag_plot p = two_series(s);
    ag_plot_outcome out;
    ag_clear_error();
    ck_assert_int_eq(ag_plot_save(&p, sub, "curve", &out), AG_PLOT_CANNOT_WRITE);
    ck_assert_msg(strstr(out.message, "cannot write ") && strstr(out.message, "/sub/curve.dat: "),
                  "%s", out.message);
    snprintf(sub, sizeof sub, "%s/missing", dir);
    ck_assert_int_eq(ag_plot_save(&p, sub, "curve", &out), AG_PLOT_CANNOT_WRITE);
    ck_assert_ptr_nonnull(strstr(out.message, "No such file or directory"));
    ck_assert_int_eq(ag_error_count(), 0);
}
END_TEST

START_TEST(bad_plots_reported) {
    ag_plot_series s[2];
    ag_plot p = two_series(s);
    ag_plot_outcome out;
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&p, dir, "a/b", &out), AG_PLOT_BAD_INPUT);
    ck_assert_int_eq(out.status, AG_PLOT_BAD_INPUT);
    check_error("plot_save", "name \"a/b\"", "without /");
    s[1].style = AG_PLOT_BARS;
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&p, dir, "x", &out), AG_PLOT_BAD_INPUT);
    check_error("plot_save", "series 1 is bars but series 0 is not bars", NULL);
    s[1].style = AG_PLOT_LINES;
    s[1].y = NULL;
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&p, dir, "x", NULL), AG_PLOT_BAD_INPUT);
    check_error("plot_save", "series 1", "y NULL");
    s[1].y = Z;
    p.yrange = true, p.ymin = 0, p.ymax = 1; /* log axis */
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&p, dir, "x", NULL), AG_PLOT_BAD_INPUT);
    check_error("plot_save", "y range [0, 1]", "lo > 0 on a log axis");
    p.yrange = false;
    p.nseries = 0;
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&p, dir, "x", NULL), AG_PLOT_BAD_INPUT);
    check_error("plot_save", "0 series", NULL);
    const ag_plot_series bars[] = {{.y = Z, .n = 2, .style = AG_PLOT_BARS}};
    const ag_plot pb = {.series = bars, .nseries = 1, .labels = (const char *[]){"a"},
                        .nlabels = 1};
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&pb, dir, "x", NULL), AG_PLOT_BAD_INPUT);
    check_error("plot_save", "bar series 0 has 2 values for 1 labels", NULL);
    expect_errors();
    ck_assert_int_eq(ag_plot_render(NULL, "x.gp", NULL), AG_PLOT_BAD_INPUT);
    check_error("plot_render", "dir is NULL", NULL);
    ck_assert(!exists("x.dat") && !exists("x.gp"));
}
END_TEST

/* An empty dir would put the files at the root ("/NAME.dat"); a dir too
 * long for the paths would have them cut short into other names. Both are
 * reported and nothing is written. */
START_TEST(empty_or_too_long_dir_reported) {
    ag_plot_series s[2];
    ag_plot p = two_series(s);
    ag_plot_outcome out;
    const char *name = "ag-plot-test-empty-dir";
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&p, "", name, &out), AG_PLOT_BAD_INPUT);
    check_error("plot_save", "dir is empty", "\".\"");
    ck_assert(access("/ag-plot-test-empty-dir.dat", F_OK) != 0);
    expect_errors();
    ck_assert_int_eq(ag_plot_render("", "x.gp", &out), AG_PLOT_BAD_INPUT);
    check_error("plot_render", "dir is empty", NULL);
    static char longdir[1200];
    snprintf(longdir, sizeof longdir, "%s/", dir);
    memset(longdir + strlen(longdir), 'd', sizeof longdir - 1 - strlen(longdir));
    expect_errors();
    ck_assert_int_eq(ag_plot_save(&p, longdir, "x", &out), AG_PLOT_BAD_INPUT);
    check_error("plot_save", "dir of 1199 characters", "at most about 1022");
    expect_errors();
    ck_assert_int_eq(ag_plot_render(dir, longdir, &out), AG_PLOT_BAD_INPUT);
    check_error("plot_render", "file name of 1199", NULL);
}
END_TEST

static TCase *plot_tcase(void) {
    TCase *tc = tcase_create("plot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lines_dat_and_gp);
    tcase_add_test(tc, bars_dat_and_gp);
    tcase_add_test(tc, without_gnuplot);
    tcase_add_test(tc, gnuplot_failing);
    tcase_add_test(tc, unwritable_directory);
    tcase_add_test(tc, bad_plots_reported);
    tcase_add_test(tc, empty_or_too_long_dir_reported);
    return tc;
}

int main(void) { return run_check_suite("plot", (check_tcase_fn *const[]){plot_tcase, NULL}); }
