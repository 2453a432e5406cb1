/* tests/gradcheck/suite.c — ag_gradcheck_main / ag_gradcheck_suite_main
 * (ag/gradcheck_suite.h): a user's table of cases becomes a command with
 * --list, --only, --seed, the report and the exit status.
 *
 * The table: x^3 with its right backward (3 x^2) and with a wrong one
 * (2 x^2), written as custom ops, and a case whose function reports. The
 * program's stdout and stderr are caught in temporary files. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck_test.h"

static void cube_backward_k(ag_tensor *out, double k) {
    ag_tensor *x = out->src[0], *gx = ag_grad_accum_buf_(x);
    if (!gx) return;
    const double *xv = x->data, *g = out->grad->data;
    for (int64_t i = 0; i < x->numel; i++) ((double *)gx->data)[i] += g[i] * k * xv[i] * xv[i];
}
static void cube_right(ag_tensor *out) { cube_backward_k(out, 3); }
static void cube_wrong(ag_tensor *out) { cube_backward_k(out, 2); }
static const ag_op RIGHT = {"cube", cube_right, NULL}, WRONG = {"cube", cube_wrong, NULL};

static ag_tensor *f_cube(ag_arena *A, ag_tensor *const *in, int n, void *op) {
    (void)n;
    ag_tensor *x = in[0], *y = ag_op_result_(A, "cube", AG_F64, x->ndim, x->shape);
    if (!y) return NULL;
    for (int64_t i = 0; i < x->numel; i++) {
        const double v = ((double *)x->data)[i];
        ((double *)y->data)[i] = v * v * v;
    }
    return ag_op_record_(y, op, 1, &x);
}
static ag_tensor *f_refuses(ag_arena *A, ag_tensor *const *in, int n, void *u) {
    (void)A, (void)in, (void)n, (void)u;
    ag_op_fail_("refuses", "never works");
    return NULL;
}

static const ag_gc_case cases[] = {
    {.op = "cube", .shapes = "[2,3]", .fn = f_cube, .in = {AG_GC_N(2, 3)}, .userdata = (void *)&RIGHT},
    {.op = "cube_wrong", .shapes = "[4]", .fn = f_cube, .in = {AG_GC_N(4)}, .userdata = (void *)&WRONG},
    AG_GC_CASE("refuses", "[2]", f_refuses, AG_GC_N(2)),
};

/* The short form: a case's f(A, inputs), here x^3 as an op whose vjp is
 * made of ag ops (3 x^2 g, or the wrong 2 x^2 g), so that --second-order
 * checks it too. */
static bool vcube_vjp_k(ag_tensor *y, ag_tensor *g, ag_tensor **grads, double k) {
    ag_tensor *x = y->src[0];
    grads[0] = ag_mul_(y->arena, g, ag_mul_scalar_(y->arena, ag_mul_(y->arena, x, x), k));
    return true;
}
static bool vcube_right(ag_tensor *y, ag_tensor *g, ag_tensor **grads) {
    return vcube_vjp_k(y, g, grads, 3);
}
static bool vcube_wrong(ag_tensor *y, ag_tensor *g, ag_tensor **grads) {
    return vcube_vjp_k(y, g, grads, 2);
}
static const ag_op VRIGHT = {.name = "vcube", .vjp = vcube_right};
static const ag_op VWRONG = {.name = "vcube", .vjp = vcube_wrong};
static ag_tensor *vcube_as(ag_arena *A, ag_tensor *x, const ag_op *op) {
    const bool was = ag_set_grad_enabled(false);
    ag_tensor *y = ag_mul_(A, x, ag_mul_(A, x, x));
    ag_set_grad_enabled(was);
    return ag_op_apply_(A, op, y, 1, &x);
}
static ag_tensor *f_vcube(ag_arena *A, ag_tensor *const *x) { return vcube_as(A, x[0], &VRIGHT); }
static ag_tensor *f_vcube_wrong(ag_arena *A, ag_tensor *const *x) {
    return vcube_as(A, x[0], &VWRONG);
}
static const ag_gc_case short_cases[] = {
    AG_GC_CASE_F("vcube", "[2,3]", f_vcube, AG_GC_N(2, 3)),
    AG_GC_CASE_F("vcube_wrong", "[4]", f_vcube_wrong, AG_GC_N(4)),
    {.op = "no function", .shapes = "[2]", .in = {AG_GC_N(2)}},
};

static char out[16384], err[4096];

static int run_table(const ag_gc_case *table, int ncases, const char *const *args);
/* Runs ag_gradcheck_main on the table with argv {"prog/mycheck", args...};
 * its stdout into out[], stderr into err[]; returns its status. */
static int run(int ncases, const char *const *args) { return run_table(cases, ncases, args); }
static int run_table(const ag_gc_case *table, int ncases, const char *const *args) {
    char *argv[8] = {"prog/mycheck"};
    int argc = 1;
    while (args[argc - 1]) argv[argc] = (char *)args[argc - 1], argc++;
    FILE *fo = tmpfile(), *fe = tmpfile();
    ck_assert(fo && fe);
    fflush(stdout), fflush(stderr);
    const int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1), dup2(fileno(fe), 2);
    const int rc = ag_gradcheck_main(argc, argv, table, ncases);
    fflush(stdout), fflush(stderr);
    dup2(so, 1), dup2(se, 2);
    close(so), close(se);
    rewind(fo), rewind(fe);
    out[fread(out, 1, sizeof out - 1, fo)] = '\0';
    err[fread(err, 1, sizeof err - 1, fe)] = '\0';
    fclose(fo), fclose(fe);
    return rc;
}
#define ARGS(...) (const char *const[]){__VA_ARGS__, NULL}

/* The line of out that starts with name followed by a space. */
static const char *row(const char *name) {
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, name, strlen(name)) && p[strlen(name)] == ' ') return p;
    ck_abort_msg("no row for %s in:\n%s", name, out);
    return NULL;
}
static bool row_says(const char *name, const char *word) {
    const char *r = row(name), *end = strchr(r, '\n');
    const char *w = strstr(r, word);
    return w && (!end || w < end);
}

START_TEST(right_passes_wrong_fails_report_goes_on) {
    ck_assert_int_eq(run(3, ARGS("--seed", "4")), 1);
    ck_assert(row_says("cube", "pass"));
    ck_assert(row_says("cube_wrong", "FAIL"));
    ck_assert(row_says("refuses", "FAIL"));
    ck_assert_ptr_nonnull(strstr(out, "ag: refuses: never works"));
    ck_assert_ptr_nonnull(strstr(out, "ops and modules checked: 3\n1 passed, 2 failed\n"));
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(only_runs_the_named_cases_on_the_same_inputs) {
    ck_assert_int_eq(run(3, ARGS("--seed=4")), 1);
    char whole[256];
    snprintf(whole, sizeof whole, "%.*s", (int)(strchr(row("cube"), '\n') - row("cube")),
             row("cube"));
    ck_assert_int_eq(run(3, ARGS("--only", "cube", "--seed", "4")), 0);
    ck_assert_ptr_nonnull(strstr(out, whole));
    ck_assert_ptr_null(strstr(out, "cube_wrong"));
    ck_assert_ptr_nonnull(strstr(out, "1 passed, 0 failed\n"));
    /* another seed, other inputs */
    ck_assert_int_eq(run(3, ARGS("--only", "cube", "--seed", "5")), 0);
    ck_assert_ptr_null(strstr(out, whole));
}
END_TEST

START_TEST(list_names_every_case) {
    ck_assert_int_eq(run(3, ARGS("--list")), 0);
    ck_assert_str_eq(out, "cube                     [2,3]\n"
                          "cube_wrong               [4]\n"
                          "refuses                  [2]\n"
                          "3 ops and modules\n");
}
END_TEST

START_TEST(bad_command_lines) {
    ck_assert_int_eq(run(3, ARGS("--only", "cub")), 2);
    ck_assert_str_eq(err, "mycheck: --only: no case is named \"cub\" (see --list)\n");
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(run(3, ARGS("--seed", "-1")), 2);
    ck_assert_str_eq(err, "mycheck: --seed: \"-1\" is not a whole number from 0 to 2^64-1\n");
    ck_assert_int_eq(run(3, ARGS("--seed")), 2);
    ck_assert_str_eq(err, "mycheck: --seed: needs a value\n");
    ck_assert_int_eq(run(3, ARGS("--list=yes")), 2);
    ck_assert_str_eq(err, "mycheck: --list: takes no value\n");
    ck_assert_int_eq(run(3, ARGS("cube")), 2);
    ck_assert_str_eq(err, "mycheck: unexpected argument \"cube\" (see --help)\n");
    ck_assert_int_eq(run(3, ARGS("--help")), 0);
    ck_assert(!strncmp(out, "usage: mycheck [options]\n", 25));
}
END_TEST

static int reports;
static void count(const char *m, void *u) {
    (void)m, (void)u;
    reports++;
}

/* The thread's handler is the caller's again afterwards; a bad table is
 * reported (through it) and gives status 2. */
START_TEST(handler_put_back_and_bad_table_reported) {
    ag_set_thread_error_handler(count, NULL);
    reports = 0;
    ck_assert_int_eq(run(1, ARGS("--seed", "1")), 0);
    ck_assert_int_eq(reports, 0);
    ck_assert_int_eq(run(-1, ARGS("--list")), 2);
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "gradcheck_main: table 0: -1 cases"));
    ck_assert(ag_set_thread_error_handler(NULL, NULL) == count);
}
END_TEST

/* Cases in the short form run like the others, at first and second order;
 * a case with neither fn nor f is a bad table. */
START_TEST(short_form_cases_run_at_both_orders) {
    ck_assert_int_eq(run_table(short_cases, 2, ARGS("--seed", "2")), 1);
    ck_assert(row_says("vcube", "pass"));
    ck_assert(row_says("vcube_wrong", "FAIL"));
    ck_assert_int_eq(run_table(short_cases, 2, ARGS("--second-order", "--only", "vcube")), 0);
    ck_assert_ptr_nonnull(strstr(out, "ops and modules checked at second order: 1\n"
                                      "1 passed, 0 failed\n"));
    ag_set_thread_error_handler(count, NULL);
    reports = 0;
    ck_assert_int_eq(run_table(short_cases, 3, ARGS("--list")), 2);
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "table 0, case 2: expected an op name"));
    ck_assert(ag_set_thread_error_handler(NULL, NULL) == count);
}
END_TEST

/* Spec entries that cannot be made fail their case with the report that
 * says why (no undefined cast of hi, no silent "inputs could not be made"). */
static const ag_gc_case bad_specs[] = {
    {.op = "kind42", .shapes = "[3]", .fn = f_cube, .userdata = (void *)&RIGHT,
     .in = {{(ag_gc_kind)42, 1, {3}, 0, 0}}},
    {.op = "ids_huge", .shapes = "[3]", .fn = f_cube, .userdata = (void *)&RIGHT,
     .in = {AG_GC_N(3), AG_GC_IDS_BELOW(1e300, 3)}},
    {.op = "ids_nan", .shapes = "[3]", .fn = f_cube, .userdata = (void *)&RIGHT,
     .in = {AG_GC_N(3), AG_GC_IDS_BELOW(NAN, 3)}},
};
START_TEST(bad_specs_fail_with_their_report) {
    ck_assert_int_eq(run_table(bad_specs, 3, ARGS("--seed", "1")), 1);
    ck_assert(row_says("kind42", "FAIL"));
    ck_assert(row_says("ids_huge", "FAIL"));
    ck_assert(row_says("ids_nan", "FAIL"));
    ck_assert_ptr_nonnull(strstr(out, "ag: gradcheck: kind42: input 0 has kind 42"));
    ck_assert_ptr_nonnull(strstr(out, "ag: gc_ids: ids below 1e+300: expected 1 <= n <= 2^31"));
    ck_assert_ptr_nonnull(strstr(out, "ag: gc_ids: ids below nan: expected 1 <= n <= 2^31"));
    ck_assert_ptr_nonnull(strstr(out, "0 passed, 3 failed\n"));
}
END_TEST

/* An argv entry below argc that is NULL is reported, never read. */
START_TEST(null_argv_entry_reported) {
    ag_set_thread_error_handler(count, NULL);
    reports = 0;
    char *argv[] = {NULL, NULL};
    ck_assert_int_eq(ag_gradcheck_main(1, argv, cases, 1), 2);
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "gradcheck_main: argv[0] is NULL with argc 1"));
    char *argv2[] = {"prog", "--list", NULL};
    ck_assert_int_eq(ag_gradcheck_main(3, argv2, cases, 1), 2);
    ck_assert_int_eq(reports, 2);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "argv[2] is NULL with argc 3"));
    ck_assert(ag_set_thread_error_handler(NULL, NULL) == count);
}
END_TEST

TCase *gradcheck_suite_tcase(void) {
    TCase *tc = tcase_create("suite");
    tcase_add_test(tc, right_passes_wrong_fails_report_goes_on);
    tcase_add_test(tc, only_runs_the_named_cases_on_the_same_inputs);
    tcase_add_test(tc, list_names_every_case);
    tcase_add_test(tc, bad_command_lines);
    tcase_add_test(tc, handler_put_back_and_bad_table_reported);
    tcase_add_test(tc, short_form_cases_run_at_both_orders);
    tcase_add_test(tc, bad_specs_fail_with_their_report);
    tcase_add_test(tc, null_argv_entry_reported);
    return tc;
}
