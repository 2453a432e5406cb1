/* tests/threads/threads_test.h — shared by the threads suite's files.
 *
 * The suite checks the thread contract written in ag/engine.h: two threads
 * running ag at the same time get what the same work gets one after the
 * other. Build it with ThreadSanitizer (the tsan preset) to see that the
 * shared state it touches is synchronised. */
#ifndef AG_THREADS_TEST_H
#define AG_THREADS_TEST_H

#include <ag/ag.h>
#include <check.h>
#include <pthread.h>

/* POSIX threads, not C11's <threads.h>: ThreadSanitizer (GCC 12's) sees only
 * pthread calls. A thread's function returns NULL when it went well. */
typedef void *thread_fn(void *arg);

/* Runs fn(a) and fn(b) on two new threads and waits for both; fails the
 * test if a thread cannot be started or returns non-NULL. */
void run_pair(thread_fn *fn, void *a, void *b);

/* A barrier for the two threads of run_pair (pthread_barrier_t, count 2). */
void pair_barrier_init(pthread_barrier_t *b);

TCase *threads_train_tcase(void);
TCase *threads_shared_tcase(void);
TCase *threads_serialised_tcase(void);
TCase *threads_errors_tcase(void);
TCase *threads_registry_tcase(void);
TCase *threads_parallel_tcase(void);

#endif
