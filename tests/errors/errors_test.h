/* tests/errors/errors_test.h — shared by the errors suite's files.
 *
 * The policy under test (ag/error.h): a bad call makes
 * exactly one report, a single line
 *     ag: <op>: <shapes and what was expected> (<caller's file>:<line>)
 * through the handler; with a handler that returns, the call returns NULL
 * (false, NaN) and every op given that NULL returns NULL without reporting
 * again. Each test makes one bad call through the public macro with
 *     r = ag_op(...); const int line = __LINE__;
 * on one line, so the expected line number is the call's own. */
#ifndef AG_ERRORS_TEST_H
#define AG_ERRORS_TEST_H

#include "../ops/ops_test.h"

/* The arena every test uses (made by the fixture). */
extern ag_arena *A;

/* Calls of the counting handler since the fixture ran, and the last message
 * it received. */
extern int reports;
extern char reported[1024];

/* The fixture: a fresh arena, ag_clear_error(), the counting handler; the
 * teardown restores the default handler and frees the arena. */
void errors_setup(void);
void errors_teardown(void);

/* Asserts exactly one report since the fixture, of the form
 * "ag: <op>: ... (<base name of file>:<line>)", whose text contains each
 * needle (a needle "a|b" is satisfied by either a or b). */
void expect_report(const char *file, const char *op, int line, const char *const *needles);
#define EXPECT_REPORT(op, line, ...) \
    expect_report(__FILE__, (op), (line), (const char *const[]){__VA_ARGS__, NULL})

/* Asserts r is NULL, then feeds it to several ops (and backward): each
 * returns NULL (false) without a report and without touching memory. */
void expect_null_propagates(ag_tensor *r);

/* Shorthands for valid inputs in A. */
ag_tensor *f32_of(int ndim, const int64_t *shape);  /* f32, values 0.1 * i */
ag_tensor *i32_of(int ndim, const int64_t *shape, const int32_t *values);
#define F32(...) f32_of(AG_SHAPE(__VA_ARGS__))

/* ---- call sites (call_sites.c) ---------------------------------------------
 * One row per public function that can report: its case makes that
 * function's failing call, on one line with  return __LINE__;  after a
 * successful call elsewhere, and the report must name that line. The
 * failing call takes its arguments from site_inputs (made before the
 * successful call), so nothing else records a site in between. */
typedef struct site_inputs {
    ag_tensor *x;       /* f32 [2,3] */
    ag_tensor *y;       /* f32 [4,5] */
    ag_tensor *ids;     /* i32 [2] {0, 1} */
    ag_rng rng;
    ag_nn_linear *lin;  /* Linear(3, 2) with bias */
    ag_module_list *list;
    ag_optim_group group; /* lin's parameters */
    ag_optim *opt;      /* AdamW over group */
} site_inputs;

typedef struct site_case {
    const char *fn;                       /* the public name */
    int (*bad)(site_inputs *in);          /* makes the failing call; returns its line */
    const char *file;                     /* the file of bad */
} site_case;
#define SITE_CASE(fn) {#fn, bad_##fn, __FILE__}

extern const site_case site_cases_core[];
extern const int n_site_cases_core;
extern const site_case site_cases_nn[];
extern const int n_site_cases_nn;
extern const site_case site_cases_ext[];
extern const int n_site_cases_ext;

TCase *errors_sites_tcase(void);
TCase *errors_core_tcase(void);
TCase *errors_nn_tcase(void);
TCase *errors_ub_tcase(void);
TCase *errors_ops_tcase(void);
TCase *errors_policy_tcase(void);
TCase *errors_silent_tcase(void);
TCase *errors_custom_tcase(void);
TCase *errors_named_tcase(void);

#endif
