/* tests/optim/checks.c — checks that several optimizers' tests share (see
 * optim_test.h); no test case of its own. */
#include <string.h>

#include "optim_test.h"

void check_bf16_steps(ag_optim *o, ag_tensor *p, ref_f32_step ref, const char *buffer) {
    static const double G[2] = {0.5, -0.25}; /* exact in bf16 */
    float w[2] = {1.5f, -2.0f}, s[2][2] = {{0}};
    ck_assert(ag_get_flat(p, 0) == 1.5 && ag_get_flat(p, 1) == -2.0);
    for (int t = 1; t <= 8; t++) {
        set_grad(p, G);
        ck_assert(ag_optim_step(o));
        const ag_optim_state *st = ag_optim_state_of(o, p);
        ck_assert(st->master->dtype == AG_F32);
        ck_assert(ag_optim_state_buffer(st, buffer)->dtype == AG_F32);
        for (int i = 0; i < 2; i++) {
            ref(&w[i], s[i], (float)G[i], t);
            float mi = ((float *)st->master->data)[i];
            ck_rel(mi, w[i], 2e-7);
            ck_assert_int_eq(((uint16_t *)p->data)[i], ag_f32_to_bf16(mi));
        }
        /* 1.5 until the master is below 1.5 - 2^-8, then 1.5 - 2^-7 */
        ck_assert(ag_get_flat(p, 0) == (w[0] > 1.49609375f ? 1.5 : 1.4921875));
    }
    ck_assert(ag_get_flat(p, 0) == 1.4921875); /* it did move */
}

void check_bad_options(const char *op, ag_optim *(*make)(ag_arena *, ag_tensor *, const void *),
                       const void *defaults, size_t size, const bad_option *bad, int n) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *p = param_of(P, AG_F64, 1, (double[]){1.0});
    for (int k = 0; k < n; k++) {
        unsigned char opts[256];
        ck_assert(size <= sizeof opts && bad[k].offset + sizeof(double) <= size);
        memcpy(opts, defaults, size);
        memcpy(opts + bad[k].offset, &bad[k].value, sizeof(double));
        expect_errors();
        ck_assert_ptr_null(make(P, p, opts));
        check_error(op, bad[k].want, ">= 0");
    }
    ag_arena_free(P);
}
