/* demos/common/demo_opts.c — see demo_opts.h. */
#include "demo_opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ag_demo_opts_fail(const ag_demo_cmd *cmd, const char *opt, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (opt) fprintf(stderr, "%s: --%s: %s\n", cmd->prog, opt, msg);
    else fprintf(stderr, "%s: %s\n", cmd->prog, msg);
    return 2;
}

bool ag_demo_parse_double(const char *s, double *v) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x)) return false;
    *v = x;
    return true;
}

/* A whole number that is all of s (optional '-' for signed), without
 * overflow; false for anything else. */
static bool parse_whole(const char *s, bool is_signed, long long *v, unsigned long long *u) {
    char *end;
    errno = 0;
    if (s[0] == '+' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n') return false;
    if (is_signed) {
        *v = strtoll(s, &end, 10);
    } else {
        if (s[0] == '-') return false; /* strtoull would wrap it */
        *u = strtoull(s, &end, 10);
    }
    return !errno && end != s && *end == '\0';
}

static int whole_in_range(const ag_demo_cmd *cmd, const ag_demo_opt *o, const char *s,
                          long long *out) {
    long long v = 0;
    if (!parse_whole(s, true, &v, NULL)) {
        char *end;
        errno = 0;
        (void)strtoll(s, &end, 10);
        if (errno == ERANGE && *end == '\0')
            return ag_demo_opts_fail(cmd, o->name, "%s is out of range (%.0f to %.0f)", s,
                                     o->lo, o->hi);
        return ag_demo_opts_fail(cmd, o->name, "\"%s\" is not a whole number", s);
    }
    if ((double)v < o->lo || (double)v > o->hi)
        return ag_demo_opts_fail(cmd, o->name, "%s is out of range (%.0f to %.0f)", s, o->lo,
                                 o->hi);
    *out = v;
    return -1;
}

static int parse_double_opt(const ag_demo_cmd *cmd, const ag_demo_opt *o, const char *s) {
    double v;
    if (!ag_demo_parse_double(s, &v)) {
        char *end;
        errno = 0;
        const double x = strtod(s, &end);
        if (end != s && *end == '\0' && errno == ERANGE) /* a number, but not a double */
            return ag_demo_opts_fail(cmd, o->name, "%s is out of range (%s)", s,
                                     fabs(x) < 1 ? "it underflows to 0"
                                                 : "too large for a double");
        return ag_demo_opts_fail(cmd, o->name, "\"%s\" is not a finite number", s);
    }
    if (v < o->lo || v > o->hi || (o->open_lo && v == o->lo))
        return ag_demo_opts_fail(cmd, o->name, "%s is out of range (%s %g and <= %g)", s,
                                 o->open_lo ? ">" : ">=", o->lo, o->hi);
    *(double *)o->value = v;
    return -1;
}

static int parse_string_opt(const ag_demo_cmd *cmd, const ag_demo_opt *o, const char *s) {
    if (!*s) return ag_demo_opts_fail(cmd, o->name, "the value is empty");
    if (o->choices) {
        const char *const *c = o->choices;
        while (*c && strcmp(*c, s) != 0) c++;
        if (!*c) {
            char list[256] = "";
            for (c = o->choices; *c; c++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         c == o->choices ? "" : ", ", *c);
            return ag_demo_opts_fail(cmd, o->name, "\"%s\" is not one of %s", s, list);
        }
    }
    if (o->type == AG_DEMO_STRING) {
        *(const char **)o->value = s;
        return -1;
    }
    ag_demo_strings *l = o->value;
    if (l->n == AG_DEMO_MAX_STRINGS)
        return ag_demo_opts_fail(cmd, o->name, "given more than %d times", AG_DEMO_MAX_STRINGS);
    l->v[l->n++] = s;
    return -1;
}

/* One "R" or "D" of a shape list: digits up to the next stop character. */
static bool shape_number(const char *s, char stop, const char **next, long long *v) {
    char buf[32];
    size_t n = strcspn(s, (char[]){stop, '\0'});
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *next = s + n;
    return parse_whole(buf, true, v, NULL);
}

static int parse_shapes_opt(const ag_demo_cmd *cmd, const ag_demo_opt *o, const char *s) {
    ag_demo_shapes sh = {.n = 0};
    const char *p = s;
    for (;;) {
        long long r, d;
        if (sh.n == AG_DEMO_MAX_SHAPES)
            return ag_demo_opts_fail(cmd, o->name, "\"%s\" has more than %d shapes", s,
                                     AG_DEMO_MAX_SHAPES);
        if (!shape_number(p, 'x', &p, &r) || *p != 'x' || !shape_number(p + 1, ',', &p, &d))
            return ag_demo_opts_fail(cmd, o->name, "\"%s\" is not a list ROWSxDIM,...", s);
        if (r < 1 || d < 1 || (double)r > o->hi / (double)d)
            return ag_demo_opts_fail(cmd, o->name,
                                     "%lldx%lld: rows and dim must be >= 1, rows*dim <= %.0f",
                                     r, d, o->hi);
        sh.rows[sh.n] = r, sh.dim[sh.n] = d, sh.n++;
        if (*p == '\0') break;
        p++; /* the ',' */
        if (*p == '\0')
            return ag_demo_opts_fail(cmd, o->name, "\"%s\" ends with a comma", s);
    }
    *(ag_demo_shapes *)o->value = sh;
    return -1;
}

static int parse_value(const ag_demo_cmd *cmd, const ag_demo_opt *o, const char *s) {
    long long v;
    int rc;
    switch (o->type) {
    case AG_DEMO_INT:
        if ((rc = whole_in_range(cmd, o, s, &v)) >= 0) return rc;
        *(int *)o->value = (int)v;
        return -1;
    case AG_DEMO_INT64:
        if ((rc = whole_in_range(cmd, o, s, &v)) >= 0) return rc;
        *(int64_t *)o->value = (int64_t)v;
        return -1;
    case AG_DEMO_SEED:
        if (!parse_whole(s, false, NULL, o->value))
            return ag_demo_opts_fail(cmd, o->name,
                                     "\"%s\" is not a whole number from 0 to 2^64-1", s);
        return -1;
    case AG_DEMO_DOUBLE: return parse_double_opt(cmd, o, s);
    case AG_DEMO_STRING:
    case AG_DEMO_STRINGS: return parse_string_opt(cmd, o, s);
    case AG_DEMO_SHAPES: return parse_shapes_opt(cmd, o, s);
    case AG_DEMO_FLAG: break;
    }
    return ag_demo_opts_fail(cmd, o->name, "takes no value");
}

static void print_help(const ag_demo_cmd *cmd) {
    printf("usage: %s [options]\n", cmd->prog);
    if (cmd->about) printf("%s", cmd->about);
    for (int i = 0; i < cmd->nopts; i++) {
        const ag_demo_opt *o = &cmd->opts[i];
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-22s", head);
        for (const char *h = o->help; *h; h++) {
            putchar(*h);
            if (*h == '\n') printf("  %-22s", "");
        }
        putchar('\n');
    }
    printf("  %-22s%s\n", "--help", "this text");
}

int ag_demo_opts_parse(const ag_demo_cmd *cmd, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(cmd);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return ag_demo_opts_fail(cmd, NULL, "unexpected argument \"%s\" (see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ag_demo_opt *o = NULL;
        for (int k = 0; k < cmd->nopts && !o; k++)
            if (strlen(cmd->opts[k].name) == len && !strncmp(cmd->opts[k].name, name, len))
                o = &cmd->opts[k];
        if (!o) return ag_demo_opts_fail(cmd, NULL, "unknown option \"%s\" (see --help)", a);
        if (o->given) *o->given = true;
        if (o->type == AG_DEMO_FLAG) {
            if (eq) return ag_demo_opts_fail(cmd, o->name, "takes no value");
            *(bool *)o->value = true;
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 == argc) return ag_demo_opts_fail(cmd, o->name, "needs a value");
            val = argv[++i];
        }
        int rc = parse_value(cmd, o, val);
        if (rc >= 0) return rc;
    }
    return -1;
}
