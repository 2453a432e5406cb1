/* ag/error.h — the error policy.
 *
 * Every op and module checks its arguments. A failure produces one line:
 *
 *   ag: matmul: cannot multiply [2,3] by [4,5]: inner dimensions 3 and 4 differ (train.c:42)
 *
 * naming the op, the shapes, what was expected, and the caller's file and
 * line. The default handler prints that line to stderr and aborts. A program
 * may install a handler that returns; the failing call then returns NULL (or
 * false, or a negative count), and every later op given a NULL tensor returns
 * NULL without touching memory and without reporting again.
 *
 * File input leaves its destination unchanged when it fails. The loaders
 * return an error code (a status); ag_module_save and ag_module_load given
 * no status report the same line through the handler instead, as PyTorch
 * raises.
 *
 * The caller's line. Every public function that can report is declared as
 * ag_foo_ and called through the macro ag_foo, which records the caller's
 * file and line just before the call (AG_AT below). Three rules keep the
 * recorded site right:
 *   - a report uses the site and clears it: one site, at most one report;
 *   - library code calls only the ag_foo_ forms, never the macros, so the
 *     user's site survives the library's internal calls (a bad input found
 *     deep inside ag_nn_block_forward names the line that called it);
 *   - every public function that can reach a report is such a macro. The
 *     test "call-sites" reads the call graph of the built library and fails
 *     on a public function that can report without one, and on library code
 *     that records a site.
 * So a report names the line of the public call that led to it, or no line
 * at all, never the line of an earlier call that succeeded.
 *
 * The macro records the site before the arguments are evaluated and puts
 * the previous site back when the call returns. So in ag_matmul(A, f(), x),
 * the ag calls that f makes each restore matmul's site when they return, and
 * a report from matmul names matmul's line; the same holds for a callback
 * (a module type's forward, a gradcheck function) that makes ag calls.
 * Between two public calls no site is recorded.
 */
#ifndef AG_ERROR_H
#define AG_ERROR_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* message is the whole line without the trailing newline, e.g.
 * "ag: add: shapes [2,3] and [4] do not broadcast: ... (main.c:12)". */
typedef void (*ag_error_handler)(const char *message, void *userdata);

/* Installs h (NULL: the default, which prints and aborts) as the process
 * handler, the one used on every thread that has not installed its own;
 * returns the previous process handler. Safe to call from any thread (a
 * report made meanwhile goes to the old or the new pair, never a mix). The
 * last error and the call site are per thread. */
ag_error_handler ag_set_error_handler(ag_error_handler h, void *userdata);

/* Installs h with userdata as the calling thread's handler: reports made on
 * this thread go to it instead of the process handler. NULL removes it (the
 * thread uses the process handler again). Returns the thread's previous
 * handler, NULL if it had none. Each thread starts with none. */
ag_error_handler ag_set_thread_error_handler(ag_error_handler h, void *userdata);

/* The default handler: prints message and a newline to stderr, then abort(). */
void ag_error_abort(const char *message, void *userdata);

/* The last error line reported on this thread, or "" if none since the last
 * ag_clear_error(). */
const char *ag_last_error(void);

/* Number of errors reported on this thread since the last ag_clear_error(). */
int ag_error_count(void);

/* Forgets the last error on this thread. */
void ag_clear_error(void);

/* Records the caller's file and line for the next error message (file must
 * outlive the call: a string literal). The public macros (ag_add, ag_matmul,
 * ...) call it; the functions they wrap (ag_add_, ag_matmul_, ...) and the
 * rest of the library never do, so library code keeps the user's site. */
void ag_set_call_site(const char *file, int line);

/* ---- the call-site macros ------------------------------------------------
 * AG_AT(fn, ...) calls fn(...) with the caller's file and line recorded for
 * the reports made during the call (pushed before the arguments are
 * evaluated, popped when fn returns). One form per return type, so the
 * value passes through unchanged:
 *   AG_AT         ag_tensor *          AG_AT_BOOL    bool
 *   AG_AT_INT     int                  AG_AT_I64     int64_t
 *   AG_AT_DOUBLE  double               AG_AT_VOID    void
 *   AG_AT_PTR(fn, T, ...)  any other pointer type T
 *   AG_AT_VIA(fn, pop, ...)  a type returned by value (a struct), whose
 *                          header defines pop beside it (ag__site_pop_groups
 *                          in ag/registry.h) The compiler rejects a form that does
 * not match fn's return type (AG_AT_PTR excepted: it casts). */
struct ag_tensor;
void ag__site_push(const char *file, int line);
void ag__site_pop(void);
static inline struct ag_tensor *ag__site_pop_tensor(struct ag_tensor *v) {
    ag__site_pop();
    return v;
}
static inline bool ag__site_pop_bool(bool v) {
    ag__site_pop();
    return v;
}
static inline int ag__site_pop_int(int v) {
    ag__site_pop();
    return v;
}
static inline int64_t ag__site_pop_i64(int64_t v) {
    ag__site_pop();
    return v;
}
static inline double ag__site_pop_double(double v) {
    ag__site_pop();
    return v;
}
static inline void *ag__site_pop_ptr(const void *v) {
    ag__site_pop();
    return (void *)v;
}
#define AG_SITE_PUSH_ ag__site_push(__FILE__, __LINE__)
#define AG_AT(fn, ...) ag__site_pop_tensor((AG_SITE_PUSH_, fn(__VA_ARGS__)))
#define AG_AT_BOOL(fn, ...) ag__site_pop_bool((AG_SITE_PUSH_, fn(__VA_ARGS__)))
#define AG_AT_INT(fn, ...) ag__site_pop_int((AG_SITE_PUSH_, fn(__VA_ARGS__)))
#define AG_AT_I64(fn, ...) ag__site_pop_i64((AG_SITE_PUSH_, fn(__VA_ARGS__)))
#define AG_AT_DOUBLE(fn, ...) ag__site_pop_double((AG_SITE_PUSH_, fn(__VA_ARGS__)))
#define AG_AT_VOID(fn, ...) (AG_SITE_PUSH_, fn(__VA_ARGS__), ag__site_pop())
#define AG_AT_PTR(fn, T, ...) ((T)ag__site_pop_ptr((AG_SITE_PUSH_, fn(__VA_ARGS__))))
#define AG_AT_VIA(fn, pop, ...) pop((AG_SITE_PUSH_, fn(__VA_ARGS__)))

#ifdef __cplusplus
}
#endif
#endif
