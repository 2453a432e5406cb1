/* tests/errors/main.c — the error policy: the shared checks, the handler
 * machinery itself, and the default handler's abort. The bad calls are in
 * bad_core.c (creation, access, engine, binary, cast, gradcheck, arena),
 * bad_ops.c (the other ops), bad_nn.c (nn helpers) and bad_ub.c (calls that
 * were undefined behaviour), bad_silent.c (calls that once passed silently or
 * with a misleading message); call_sites.c checks
 * that every public function that can report names its own call's line. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "errors_test.h"
#include "../check_main.h"
#include "../child_stderr.h"

ag_arena *A;
int reports;
char reported[1024];

static void count_reports(const char *message, void *userdata) {
    (void)userdata;
    reports++;
    snprintf(reported, sizeof reported, "%s", message);
}

void errors_setup(void) {
    A = ag_arena_new(0);
    ck_assert_ptr_nonnull(A);
    ag_clear_error();
    reports = 0;
    reported[0] = '\0';
    ag_set_error_handler(count_reports, NULL);
}

void errors_teardown(void) {
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
}

ag_tensor *f32_of(int ndim, const int64_t *shape) {
    ag_tensor *t = ag_zeros(A, AG_F32, ndim, shape);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat(t, i, 0.1 * (double)i);
    return t;
}

ag_tensor *i32_of(int ndim, const int64_t *shape, const int32_t *values) {
    ag_tensor *t = ag_from_array(A, AG_I32, ndim, shape, values);
    ck_assert_ptr_nonnull(t);
    return t;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* True when one of the '|'-separated alternatives of needle is in text. */
static bool contains_any(const char *text, const char *needle) {
    char alt[128];
    while (*needle) {
        size_t n = strcspn(needle, "|");
        ck_assert(n < sizeof alt);
        memcpy(alt, needle, n);
        alt[n] = '\0';
        if (n > 0 && strstr(text, alt)) return true;
        needle += n;
        if (*needle == '|') needle++;
    }
    return false;
}

void expect_report(const char *file, const char *op, int line, const char *const *needles) {
    const char *msg = ag_last_error();
    ck_assert_msg(reports == 1, "line %d: %d reports (expected exactly 1); last: \"%s\"", line,
                  reports, msg);
    ck_assert_int_eq(ag_error_count(), 1);
    /* the handler received the same line ag_last_error() keeps */
    ck_assert_str_eq(reported, msg);
    ck_assert_msg(!strchr(msg, '\n'), "line %d: the message has a newline: \"%s\"", line, msg);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "ag: %s: ", op);
    ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0,
                  "line %d: \"%s\" does not start with \"%s\"", line, msg, prefix);
    char suffix[128];
    snprintf(suffix, sizeof suffix, " (%s:%d)", base_name(file), line);
    size_t n = strlen(msg), ns = strlen(suffix);
    ck_assert_msg(n > ns && strcmp(msg + n - ns, suffix) == 0,
                  "\"%s\" does not end with \"%s\"", msg, suffix);
    /* the text between them names what was wrong, not just the shapes */
    char body[1024];
    size_t nb = n - ns - strlen(prefix);
    ck_assert_msg(nb >= 10, "line %d: the message says too little: \"%s\"", line, msg);
    memcpy(body, msg + strlen(prefix), nb);
    body[nb] = '\0';
    for (int i = 0; needles[i]; i++)
        ck_assert_msg(contains_any(body, needles[i]), "line %d: \"%s\" does not mention \"%s\"",
                      line, msg, needles[i]);
}

void expect_null_propagates(ag_tensor *r) {
    ck_assert_ptr_null(r);
    char before[1024];
    snprintf(before, sizeof before, "%s", ag_last_error());
    int n = reports;
    ag_tensor *v = F32(2, 3);
    ag_tensor *out[] = {
        ag_add(A, r, v),
        ag_mul_scalar(A, r, 2.0),
        ag_exp(A, r),
        ag_sum(A, r, 0, NULL, false),
        ag_matmul(A, v, r),
        ag_reshape(A, r, AG_SHAPE(-1)),
        ag_softmax(A, r, -1),
        ag_cast(A, r, AG_F64),
    };
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        ck_assert_msg(out[i] == NULL, "op %zu of the NULL chain returned a tensor", i);
    /* a chain: each NULL fed to the next */
    ag_tensor *c = ag_sub(A, v, ag_relu(A, ag_transpose(A, r, 0, 1)));
    ck_assert_ptr_null(c);
    ck_assert(!ag_backward(r, NULL));
    ck_assert_ptr_null(ag_detach(A, r));
    ag_set_requires_grad(r, true);
    ag_zero_grad(r);
    ck_assert_int_eq(ag_graph_size(r), 0);
    ck_assert_msg(reports == n, "%d further reports from NULL inputs: \"%s\"", reports - n,
                  ag_last_error());
    ck_assert_int_eq(ag_error_count(), n);
    ck_assert_str_eq(ag_last_error(), before);
}

/* ---- the handler machinery ----------------------------------------------- */

static int seen;
static void *seen_data;
static void remember(const char *message, void *userdata) {
    (void)message;
    seen++;
    seen_data = userdata;
}

START_TEST(handler_get_set_and_userdata) {
    /* the fixture installed count_reports; the default before it aborts */
    ag_error_handler prev = ag_set_error_handler(NULL, NULL);
    ck_assert(prev == count_reports);
    prev = ag_set_error_handler(remember, &seen);
    ck_assert(prev == ag_error_abort);
    ag_tensor *r = ag_add(A, F32(2), F32(3));
    ck_assert_ptr_null(r);
    ck_assert_int_eq(seen, 1);
    ck_assert_ptr_eq(seen_data, &seen);
    ck_assert_int_eq(ag_error_count(), 1);
    ck_assert(ag_set_error_handler(count_reports, NULL) == remember);
}
END_TEST

START_TEST(clear_error_and_count) {
    ck_assert_str_eq(ag_last_error(), "");
    ck_assert_int_eq(ag_error_count(), 0);
    ck_assert_ptr_null(ag_add(A, F32(2), F32(3)));
    ck_assert_ptr_null(ag_mul(A, F32(4), F32(5)));
    ck_assert_int_eq(ag_error_count(), 2);
    ck_assert_int_eq(reports, 2);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: mul: ")); /* the latest */
    ag_clear_error();
    ck_assert_str_eq(ag_last_error(), "");
    ck_assert_int_eq(ag_error_count(), 0);
    /* good calls report nothing */
    ck_assert_ptr_nonnull(ag_add(A, F32(2, 3), F32(3)));
    ck_assert_int_eq(ag_error_count(), 0);
    ck_assert_int_eq(reports, 2);
}
END_TEST

START_TEST(one_line_per_bad_call_in_a_row) {
    /* each bad call is reported once, with its own line */
    ag_tensor *a = F32(2, 3), *b = F32(4, 5);
    ag_tensor *r1 = ag_add(A, a, b); const int l1 = __LINE__;
    ck_assert_ptr_null(r1);
    EXPECT_REPORT("add", l1, "[2,3]", "[4,5]");
    ag_clear_error();
    reports = 0;
    ag_tensor *r2 = ag_sub(A, b, a); const int l2 = __LINE__;
    ck_assert_ptr_null(r2);
    EXPECT_REPORT("sub", l2, "[4,5]", "[2,3]");
    ck_assert_int_ne(l1, l2);
}
END_TEST

/* The default handler, in a test Check expects to die of SIGABRT (Check
 * forks a process per test). */
START_TEST(default_handler_aborts) {
    ag_set_error_handler(NULL, NULL);
    ag_arena *B = ag_arena_new(0);
    ag_tensor *a = ag_zeros(B, AG_F32, AG_SHAPE(2, 3)), *b = ag_zeros(B, AG_F32, AG_SHAPE(4, 5));
    (void)ag_add(B, a, b);
    /* not reached */
    ag_arena_free(B);
}
END_TEST

/* A bad matmul, and the line it is on. */
static ag_tensor *bad_matmul(ag_tensor *a, ag_tensor *b) { return ag_matmul(A, a, b); } enum { BAD_MATMUL_LINE = __LINE__ };

/* The default handler prints the line and a newline to stderr, then aborts:
 * run a bad call in a child whose stderr is a pipe. */
static void bad_call_with_default_handler(void) {
    ag_set_error_handler(NULL, NULL);
    (void)bad_matmul(F32(2, 3), F32(4, 5));
}

START_TEST(default_handler_prints_then_aborts) {
    char out[1024];
    size_t n;
    int status = run_in_child(bad_call_with_default_handler, out, sizeof out, &n);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "the child was not killed by SIGABRT (status %d)", status);
    char want_end[64];
    snprintf(want_end, sizeof want_end, " (%s:%d)\n", base_name(__FILE__), (int)BAD_MATMUL_LINE);
    ck_assert_msg(strncmp(out, "ag: matmul: ", 12) == 0, "stderr: \"%s\"", out);
    ck_assert_msg(n > strlen(want_end) && strcmp(out + n - strlen(want_end), want_end) == 0,
                  "stderr \"%s\" does not end with \"%s\"", out, want_end);
    ck_assert_ptr_nonnull(strstr(out, "[2,3]"));
    ck_assert_ptr_nonnull(strstr(out, "[4,5]"));
    /* exactly one line */
    ck_assert_ptr_eq(strchr(out, '\n'), out + n - 1);
}
END_TEST

TCase *errors_policy_tcase(void) {
    TCase *tc = tcase_create("policy");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_add_test(tc, handler_get_set_and_userdata);
    tcase_add_test(tc, clear_error_and_count);
    tcase_add_test(tc, one_line_per_bad_call_in_a_row);
    tcase_add_test(tc, default_handler_prints_then_aborts);
    return tc;
}

static TCase *errors_abort_tcase(void) {
    TCase *tc = tcase_create("abort");
    tcase_add_test_raise_signal(tc, default_handler_aborts, SIGABRT);
    return tc;
}

int main(void) {
    return run_check_suite("errors", (check_tcase_fn *const[]){
        errors_policy_tcase, errors_abort_tcase, errors_core_tcase, errors_ops_tcase,
        errors_nn_tcase, errors_ub_tcase, errors_silent_tcase, errors_custom_tcase,
        errors_named_tcase, errors_sites_tcase, NULL,
    });
}
