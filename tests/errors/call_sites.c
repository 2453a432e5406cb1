/* tests/errors/call_sites.c — every public function that can report names
 * the line of its own call, not the line of an earlier call that succeeded.
 *
 * For each row of site_cases_core (sites_core.c) and site_cases_nn
 * (sites_nn.c): make the inputs, make one successful call here, then run the
 * row's failing call; with a handler that returns, there must be exactly one
 * report, and it must end "(<the case's file>:<the failing call's line>)".
 * A function that is not a call-site macro leaves the successful call's
 * site (this file) in place, and its row fails. The call-sites test fails
 * when a public function that can report has no row here. */
#include <stdint.h>
#include <string.h>

#include "errors_test.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void make_inputs(site_inputs *in) {
    memset(in, 0, sizeof *in);
    in->x = F32(2, 3);
    in->y = F32(4, 5);
    in->ids = i32_of(AG_SHAPE(2), (const int32_t[]){0, 1});
    ag_rng_seed(&in->rng, 7);
    in->lin = ag_nn_linear_new(A, &in->rng, 3, 2, true);
    in->list = ag_module_list_new(A);
    in->group = ag_optim_groups_of_module(&in->lin->base, A).groups[0];
    in->opt = ag_adamw_new(A, ag_optim_groups_one(&in->group), NULL);
    ck_assert_ptr_nonnull(in->lin);
    ck_assert_ptr_nonnull(in->list);
    ck_assert_int_eq(in->group.nparams, 2);
    ck_assert_ptr_nonnull(in->opt);
}

static const site_case *case_at(int i) {
    if (i < n_site_cases_core) return &site_cases_core[i];
    i -= n_site_cases_core;
    return i < n_site_cases_nn ? &site_cases_nn[i] : &site_cases_ext[i - n_site_cases_nn];
}

START_TEST(failing_call_names_its_own_line) {
    const site_case *c = case_at(_i);
    site_inputs in;
    make_inputs(&in);
    ck_assert_msg(ag_error_count() == 0, "%s: making the inputs reported \"%s\"", c->fn,
                  ag_last_error());
    reports = 0;
    ag_tensor *ok = ag_ones(A, AG_F32, AG_SHAPE(2)); const int ok_line = __LINE__;
    ck_assert_ptr_nonnull(ok);
    const int line = c->bad(&in);
    ck_assert_msg(reports == 1, "%s: %d reports (expected exactly 1); last: \"%s\"", c->fn,
                  reports, ag_last_error());
    const char *msg = ag_last_error();
    ck_assert_str_eq(reported, msg);
    ck_assert_msg(strncmp(msg, "ag: ", 4) == 0, "%s: \"%s\" does not start with \"ag: \"",
                  c->fn, msg);
    char want[128];
    snprintf(want, sizeof want, " (%s:%d)", base_name(c->file), line);
    const size_t n = strlen(msg), nw = strlen(want);
    ck_assert_msg(n > nw && strcmp(msg + n - nw, want) == 0,
                  "%s: \"%s\" does not end with \"%s\" (the successful call was on line %d "
                  "of %s)",
                  c->fn, msg, want, ok_line, base_name(__FILE__));
}
END_TEST

/* Makes ag calls of its own, on lines of its own, while the caller's
 * ag_matmul is evaluating its arguments. */
static ag_tensor *ones_made_elsewhere(void) {
    ag_tensor *t = ag_ones(A, AG_F32, AG_SHAPE(4, 5));
    return ag_mul(A, t, t);
}

static bool ends_with_line(const char *msg, int line) {
    char want[128];
    snprintf(want, sizeof want, " (%s:%d)", base_name(__FILE__), line);
    const size_t n = strlen(msg), nw = strlen(want);
    return n > nw && strcmp(msg + n - nw, want) == 0;
}

/* ag_matmul(A, x, f()) where f makes ag calls: the report names matmul's
 * line, not the line of f's last call. */
START_TEST(argument_calls_keep_the_outer_line) {
    ag_tensor *x = F32(2, 3);
    reports = 0;
    ag_tensor *y = ag_matmul(A, x, ones_made_elsewhere()); const int line = __LINE__;
    ck_assert_ptr_null(y);
    ck_assert_int_eq(reports, 1);
    ck_assert_msg(ends_with_line(ag_last_error(), line), "\"%s\" does not name line %d",
                  ag_last_error(), line);
}
END_TEST

/* The same for a call nested two deep: the innermost call's report names
 * its own line, and the outer calls, given NULL, report nothing more. */
START_TEST(nested_call_reports_its_own_line) {
    ag_tensor *x = F32(2, 3), *bad = F32(4, 5);
    reports = 0;
    ag_tensor *y = ag_relu(A, ag_add(A, x, ag_exp(A, ag_matmul(A, x, bad)))); const int line = __LINE__;
    ck_assert_ptr_null(y);
    ck_assert_int_eq(reports, 1);
    ck_assert_msg(strstr(ag_last_error(), "matmul") != NULL, "%s", ag_last_error());
    ck_assert(ends_with_line(ag_last_error(), line));
}
END_TEST

TCase *errors_sites_tcase(void) {
    TCase *tc = tcase_create("call_sites");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_add_loop_test(tc, failing_call_names_its_own_line, 0,
                        n_site_cases_core + n_site_cases_nn + n_site_cases_ext);
    tcase_add_test(tc, argument_calls_keep_the_outer_line);
    tcase_add_test(tc, nested_call_reports_its_own_line);
    return tc;
}
