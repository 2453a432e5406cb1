/* tests/gradcheck_suite/main.c — ag-gradcheck: every differentiable op (and
 * module) against central finite differences in f64.
 *
 *   ag-gradcheck [--list] [--only NAME] [--seed S] [--verbose]
 *
 * Prints a table (op, shapes, max abs error, max rel error, result) and ends
 * with "N passed, M failed"; exits non-zero when a case fails. The program
 * is the library's ag_gradcheck_suite_main over the tables below. */
#include "suite.h"

GC_DECLARE(binary);
GC_DECLARE(unary);
GC_DECLARE(reduce);
GC_DECLARE(matmul);
GC_DECLARE(shape);
GC_DECLARE(index);
GC_DECLARE(softmax_loss);
GC_DECLARE(loss);
GC_DECLARE(cast);
GC_DECLARE(norm_ops);
GC_DECLARE(modules);
GC_DECLARE(blocks);
GC_DECLARE(attention);

int main(int argc, char **argv) {
    const ag_gc_table tables[] = {
        {gc_binary, gc_binary_count},   {gc_unary, gc_unary_count},
        {gc_reduce, gc_reduce_count},   {gc_matmul, gc_matmul_count},
        {gc_shape, gc_shape_count},     {gc_index, gc_index_count},
        {gc_softmax_loss, gc_softmax_loss_count}, {gc_loss, gc_loss_count},
        {gc_cast, gc_cast_count},
        {gc_norm_ops, gc_norm_ops_count},         {gc_modules, gc_modules_count},
        {gc_blocks, gc_blocks_count},     {gc_attention, gc_attention_count},
    };
    const ag_gradcheck_suite suite = {
        .prog = "ag-gradcheck",
        .about = "Every differentiable op and module against central finite differences "
                 "in f64.\n",
        .tables = tables,
        .ntables = (int)(sizeof tables / sizeof tables[0]),
    };
    return ag_gradcheck_suite_main(&suite, argc, argv);
}
