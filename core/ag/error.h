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
 * File input never goes through the abort path: loaders return an error code
 * and leave their destination unchanged.
 */
#ifndef AG_ERROR_H
#define AG_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* message is the whole line without the trailing newline, e.g.
 * "ag: add: shapes [2,3] and [4] do not broadcast: ... (main.c:12)". */
typedef void (*ag_error_handler)(const char *message, void *userdata);

/* Installs h (NULL: the default, which prints and aborts) for the whole
 * process; returns the previous handler. Install it before starting threads
 * that use ag. The last error and the call site are per thread. */
ag_error_handler ag_set_error_handler(ag_error_handler h, void *userdata);

/* The default handler: prints message and a newline to stderr, then abort(). */
void ag_error_abort(const char *message, void *userdata);

/* The last error line reported on this thread, or "" if none since the last
 * ag_clear_error(). */
const char *ag_last_error(void);

/* Number of errors reported on this thread since the last ag_clear_error(). */
int ag_error_count(void);

/* Forgets the last error on this thread. */
void ag_clear_error(void);

/* Records the caller's file and line for the next error message. The public
 * macros (ag_add, ag_matmul, ...) call it; the functions they wrap (ag_add_,
 * ag_matmul_, ...) do not, so library code calling those keeps the user's
 * site. */
void ag_set_call_site(const char *file, int line);

/* Calls fn with the caller's file and line recorded first. */
#define AG_AT(fn, ...) (ag_set_call_site(__FILE__, __LINE__), fn(__VA_ARGS__))

#ifdef __cplusplus
}
#endif
#endif
