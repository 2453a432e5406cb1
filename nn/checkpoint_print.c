/* ag_load_result_print: a load's outcome in one line (ag/checkpoint.h). */
#include <stdio.h>

#include "ag/checkpoint.h"

/* "; <label> [a, b]" ("[]" for none), or "; <label> <n>" when the names were not kept. */
static void print_list(FILE *f, const char *label, int n, const char *const *names) {
    if (!names && n > 0) {
        fprintf(f, "; %s %d", label, n);
        return;
    }
    fprintf(f, "; %s [", label);
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? ", " : "", names[i]);
    fputc(']', f);
}

void ag_load_result_print(FILE *f, const ag_load_result *r) {
    if (!f || !r) return;
    if (r->status.code != AG_ST_OK) {
        fprintf(f, "%s\n", r->status.message);
        return;
    }
    fprintf(f, "loaded %d", r->nloaded);
    print_list(f, "missing", r->nmissing, r->missing);
    print_list(f, "unexpected", r->nunexpected, r->unexpected);
    if (r->nmismatched) print_list(f, "mismatched", r->nmismatched, r->mismatched);
    fputc('\n', f);
}
