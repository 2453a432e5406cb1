/* tests/child_stderr.h — runs a function in a forked child whose stderr is a
 * pipe, for tests of code that is expected to print and die (the default
 * error handler, a sanitizer report). */
#ifndef AG_TESTS_CHILD_STDERR_H
#define AG_TESTS_CHILD_STDERR_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn in a child (which exits 0 if fn returns), collects at most size - 1
 * bytes of its stderr into out (NUL-terminated; *len gets their count) and
 * returns the child's wait status. */
static inline int run_in_child(void (*fn)(void), char *out, size_t size, size_t *len) {
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn();
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < size && (k = read(fd[0], out + n, size - 1 - n)) > 0) n += (size_t)k;
    out[n] = '\0';
    close(fd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (len) *len = n;
    return status;
}

#endif
