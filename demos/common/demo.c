/* demos/common/demo.c — see demo.h. */
#include "demo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef AG_HAVE_OPENMP
#include <omp.h>
#endif

bool ag_demo_make_dirs(const char *path) {
    char buf[4096];
    if (path[0] == '\0') {
        errno = ENOENT;
        return false;
    }
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return false;
    }
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return false;
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Cuts buf's last component ("a/b/" and "a/b" -> "a"); false when there is
 * no parent to cut to (a single component, or "/"). */
static bool cut_last(char *buf) {
    char *slash = strrchr(buf, '/');
    while (slash && slash > buf && slash[1] == '\0') {
        *slash = '\0';
        slash = strrchr(buf, '/');
    }
    if (!slash || slash == buf) return false;
    *slash = '\0';
    return true;
}

bool ag_demo_dir_usable(const char *path) {
    struct stat st;
    if (path[0] != '\0' && stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return access(path, W_OK | X_OK) == 0;
        errno = ENOTDIR;
        return false;
    }
    /* Make it, then remove what was made: the folders from path up to (not
     * including) its nearest existing ancestor, found before making any. */
    char buf[4096];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return false;
    }
    strcpy(buf, path);
    size_t keep = 0; /* the nearest existing ancestor is buf[0, keep) */
    while (cut_last(buf))
        if (stat(buf, &st) == 0) {
            keep = strlen(buf);
            break;
        }
    if (!ag_demo_make_dirs(path)) return false;
    strcpy(buf, path);
    while (strlen(buf) > keep && rmdir(buf) == 0 && cut_last(buf)) continue;
    return true;
}

FILE *ag_demo_open(const char *prog, const char *dir, const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
    return f;
}

double ag_demo_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ag_demo_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

void ag_demo_set_threads(int n) {
#ifdef AG_HAVE_OPENMP
    omp_set_num_threads(n);
#endif
    (void)n;
}
