/* tests/errors/errors_test.h — shared by the errors suite's files.
 *
 * The policy under test (ag/error.h, DESIGN.md section 8): a bad call makes
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

TCase *errors_core_tcase(void);
TCase *errors_ops_tcase(void);
TCase *errors_policy_tcase(void);

#endif
