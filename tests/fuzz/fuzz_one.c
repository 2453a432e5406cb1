/* tests/fuzz/fuzz_one.c — one input through the loader, with its promises
 * checked (fuzz_one.h). */
#include "fuzz_one.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL "fuzz-input"

static void broken(const char *what, const char *message) {
    fprintf(stderr, "fuzz: broken promise: %s (%s)\n", what, message);
    abort();
}

ag_module *fuzz_module(ag_arena *P) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_module_list *l = ag_module_list_new(P);
    const ag_dtype dts[3] = {AG_F32, AG_F64, AG_BF16};
    for (int i = 0; i < 3; i++) {
        ag_module *m = &ag_nn_linear_new(P, &r, 2, 2, true)->base;
        ag_module_cast(m, dts[i]);
        ag_module_list_append(l, m);
    }
    return &l->base;
}

typedef struct {
    unsigned char b[256];
    size_t n;
} snap;

static void take(const ag_named_param *p, void *ud) {
    snap *s = ud;
    const size_t k = (size_t)p->tensor->numel * ag_dtype_size(p->tensor->dtype);
    if (s->n + k <= sizeof s->b) memcpy(s->b + s->n, p->tensor->data, k);
    s->n += k;
}

static void check_failure(const ag_st_status *st, ag_module *m, const snap *before) {
    if (st->code == AG_ST_OK) broken("failure with code ok", st->message);
    if (!strstr(st->message, LABEL)) broken("message does not name the input", st->message);
    snap now = {{0}, 0};
    ag_module_visit_params(m, take, &now);
    if (now.n != before->n || memcmp(now.b, before->b, now.n) != 0)
        broken("a failed load changed the module", st->message);
}

int fuzz_one(const uint8_t *bytes, size_t n) {
    ag_arena *P = ag_arena_new(16384); /* small blocks: a fuzzer runs this often */
    ag_module *m = fuzz_module(P);
    snap before = {{0}, 0};
    ag_module_visit_params(m, take, &before);
    int strict_ok = 0;
    ag_st_status st;
    ag_st_file *f = ag_st_open_memory(bytes, n, LABEL, &st);
    if (!f) {
        check_failure(&st, m, &before);
    } else {
        for (int non_strict = 0; non_strict < 2; non_strict++) {
            ag_load_result r;
            const ag_load_opts o = {.non_strict = non_strict, .names = P};
            if (ag_module_load_file(m, f, &o, &r)) {
                if (!non_strict && r.nloaded != 6) broken("strict load missed a tensor", "");
                strict_ok |= !non_strict;
            } else {
                check_failure(&r.status, m, &before);
            }
        }
        ag_st_close(f);
    }
    ag_arena_free(P);
    return strict_ok;
}
