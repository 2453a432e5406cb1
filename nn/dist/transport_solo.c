/* nn/dist/transport_solo.c — the transport of a world of one: ag_dist built
 * without MPI. A sum over one rank is the value itself, a broadcast from
 * rank 0 to itself is nothing, so no collective has work to do. */
#include "transport.h"

bool ag__tp_available(void) { return false; }

bool ag__tp_init(int *argc, char ***argv, int *rank, int *size) {
    (void)argc;
    (void)argv;
    *rank = 0;
    *size = 1;
    return true;
}

void ag__tp_finalize(void) {}

ag__tp_req *ag__tp_sum_start(void *buf, int64_t n, bool f64) {
    (void)buf;
    (void)n;
    (void)f64;
    return NULL;
}

ag__tp_req *ag__tp_bcast_start(void *buf, size_t bytes, int root) {
    (void)buf;
    (void)bytes;
    (void)root;
    return NULL;
}

void ag__tp_progress(ag__tp_req *const *reqs, int n) {
    (void)reqs;
    (void)n;
}

void ag__tp_wait(ag__tp_req *r, double timeout, const char *what) {
    (void)r;
    (void)timeout;
    (void)what;
}
