/* core/st_internal.h — what the safetensors files share; not installed. */
#ifndef AG_CORE_ST_INTERNAL_H
#define AG_CORE_ST_INTERNAL_H

#include "ag/safetensors.h"

/* Sets st's code and message "ag: <op>: <formatted text>"; returns false so
 * a failing path can end with `return ag__st_set(...)`. A message longer
 * than the buffer ends with "...". st NULL: ignored. */
bool ag__st_set(ag_st_status *st, ag_st_code code, const char *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Clears st to AG_ST_OK with an empty message (st NULL: ignored). */
void ag__st_ok(ag_st_status *st);

/* Checks the nmeta metadata entries to be written to path: a list when
 * nmeta > 0, a key and a value in each, no key twice (a reader would take
 * one of them: ag_st_meta_get the first, Python's json the last). false with
 * st set (under op) otherwise. */
bool ag__st_meta_ok(const char *op, const char *path, int nmeta, const ag_st_meta *meta,
                    ag_st_status *st);

/* Element count of a shape into *numel; false when a size is negative or the
 * count or its byte size (times elem) overflows size_t or int64. */
bool ag__st_numel(int ndim, const int64_t *shape, size_t elem, int64_t *numel, size_t *nbytes);

#endif
