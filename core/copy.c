/* core/copy.c — copying values into an existing tensor without recording
 * (PyTorch's copy_ under no_grad): from a C array or from another tensor.
 * A NULL tensor (an earlier failure) returns false without a report. */
#include <string.h>

#include "internal.h"
#include "st_internal.h"

static bool copy_in(const char *op, ag_tensor *dst, const void *values, ag_dtype dt,
                    int64_t count) {
    if (!dst) return false; /* an earlier failure: no second report */
    if (!values) {
        ag__fail(op, "NULL values for a destination %s", ag__shp(dst));
        return false;
    }
    if (!ag__check_live(op, dst)) return false;
    if ((unsigned)dt >= AG_DTYPE_COUNT) {
        ag__fail(op, "unknown source dtype %d", (int)dt);
        return false;
    }
    if (count != dst->numel) {
        ag__fail(op, "%lld values for a destination %s of %lld elements", (long long)count,
                 ag__shp(dst), (long long)dst->numel);
        return false;
    }
    if ((dt == AG_I32) != (dst->dtype == AG_I32)) {
        ag__fail(op, "cannot copy %s values into a %s tensor %s: floats go into floats, i32 "
                 "into i32", ag_dtype_name(dt), ag_dtype_name(dst->dtype), ag__shp(dst));
        return false;
    }
    if (values == dst->data) return true;
    ag_st_convert(dst->data, dst->dtype, values, ag_st_dtype_of(dt), count);
    return true;
}

bool ag_copy_array_into_(ag_tensor *dst, const void *values, ag_dtype dt, int64_t count) {
    return copy_in("copy_array_into", dst, values, dt, count);
}

bool ag_copy_into_(ag_tensor *dst, const ag_tensor *src) {
    if (!dst || !src) return false; /* an earlier failure: no second report */
    if (!ag__check_live("copy_into", src)) return false;
    return copy_in("copy_into", dst, src->data, src->dtype, src->numel);
}
