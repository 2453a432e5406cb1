/* core/st_tensor.c — between safetensors entries and ag tensors: a view of a
 * tensor for writing, and reading an entry into a tensor. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "st_internal.h"

ag_st_tensor ag_st_view(const char *name, const ag_tensor *t) {
    ag_st_tensor v = {.name = name};
    if (!t) return v;
    v.dtype = ag_st_dtype_of(t->dtype);
    v.ndim = t->ndim;
    memcpy(v.shape, t->shape, sizeof v.shape);
    v.data = t->data;
    v.nbytes = (size_t)t->numel * ag_dtype_size(t->dtype);
    return v;
}

bool ag_st_read_into(const ag_st_file *f, const ag_st_tensor *src, ag_tensor *dst,
                     ag_st_status *st) {
    const char *L = ag_st_label(f);
    if (!src || !dst) return ag__st_set(st, AG_ST_ARG, "load", "%s: NULL tensor", L);
    bool same = src->ndim == dst->ndim;
    for (int d = 0; same && d < src->ndim; d++) same = src->shape[d] == dst->shape[d];
    if (!same)
        return ag__st_set(st, AG_ST_MISMATCH, "load", "%s: tensor \"%s\": shape %s in the file, "
                          "%s in the destination", L, src->name, ag__shp_of(src->ndim, src->shape),
                          ag__shp(dst));
    if (!ag_st_convertible(src->dtype, dst->dtype))
        return ag__st_set(st, AG_ST_CONVERT, "load", "%s: tensor \"%s\": %s cannot be loaded into "
                          "a %s tensor", L, src->name, ag_st_dtype_name(src->dtype),
                          ag_dtype_name(dst->dtype));
    if (ag_st_dtype_of(dst->dtype) == src->dtype) /* straight into the destination */
        return ag_st_read_raw(f, src, dst->data, st) && (ag__st_ok(st), true);
    const void *bytes = src->data;
    void *tmp = NULL;
    if (!bytes) { /* in the file: read, then convert */
        tmp = malloc(src->nbytes ? src->nbytes : 1);
        if (!tmp) return ag__st_set(st, AG_ST_NOMEM, "load", "%s: out of memory", L);
        if (!ag_st_read_raw(f, src, tmp, st)) {
            free(tmp);
            return false;
        }
        bytes = tmp;
    }
    ag_st_convert(dst->data, dst->dtype, bytes, src->dtype, dst->numel);
    free(tmp);
    ag__st_ok(st);
    return true;
}
