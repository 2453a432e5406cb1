/* tests/gradcheck_suite/cases_matmul.c — matmul under every torch.matmul
 * shape rule: 1-d . 1-d, 1-d . 2-d, 2-d . 1-d, 2-d . 2-d, batched with
 * broadcast batch dims on either side, 1-d operands against batched ones,
 * the folded [B,T,K] @ [K,N] case, a constant operand, and x @ x. */
#include "suite.h"

static ag_tensor *f_matmul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_matmul(A, x[0], x[1]);
}
/* x used on both sides: d(x x) = dC x^T + x^T dC */
static ag_tensor *f_matmul_self(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_matmul(A, x[0], x[0]);
}
/* a chain: (a @ b) @ c with a broadcast middle operand */
static ag_tensor *f_matmul_chain(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_matmul(A, ag_matmul(A, x[0], x[1]), x[2]);
}

#define MM(SHAPES, ...) GC_CASE("matmul", SHAPES, f_matmul, __VA_ARGS__)

const gc_case gc_matmul[] = {
    MM("[3] @ [3]", GC_N(3), GC_N(3)),
    MM("[3] @ [3,4]", GC_N(3), GC_N(3, 4)),
    MM("[2,3] @ [3]", GC_N(2, 3), GC_N(3)),
    MM("[2,3] @ [3,4]", GC_N(2, 3), GC_N(3, 4)),
    MM("[1,3] @ [3,1]", GC_N(1, 3), GC_N(3, 1)),
    MM("[2,1,3,4] @ [5,4,6]", GC_N(2, 1, 3, 4), GC_N(5, 4, 6)),
    MM("[3,2,4] @ [3,4,2]", GC_N(3, 2, 4), GC_N(3, 4, 2)),
    MM("[2,3,4] @ [4,5] (folded)", GC_N(2, 3, 4), GC_N(4, 5)),
    MM("[2,3,4] @ [1,4,5]", GC_N(2, 3, 4), GC_N(1, 4, 5)),
    MM("[3,4] @ [2,4,5]", GC_N(3, 4), GC_N(2, 4, 5)),
    MM("[1,2,3] @ [2,1,3,2]", GC_N(1, 2, 3), GC_N(2, 1, 3, 2)),
    MM("[4] @ [2,4,3]", GC_N(4), GC_N(2, 4, 3)),
    MM("[2,3,4] @ [4]", GC_N(2, 3, 4), GC_N(4)),
    MM("[2,1,3,4] @ [4]", GC_N(2, 1, 3, 4), GC_N(4)),
    MM("[2,3] @ const [3,4]", GC_N(2, 3), GC_C(3, 4)),
    MM("const [2,3] @ [2,3,4]", GC_C(2, 3), GC_N(2, 3, 4)),
    GC_CASE("matmul", "x @ x, [3,3]", f_matmul_self, GC_N(3, 3)),
    GC_CASE("matmul", "([2,3] @ [2,3,4]) @ [4]", f_matmul_chain, GC_N(2, 3), GC_N(2, 3, 4),
            GC_N(4)),
};
const int gc_matmul_count = sizeof gc_matmul / sizeof gc_matmul[0];
