#!/usr/bin/env bash
# tests/call_sites/check_call_sites.sh [--rows DIR] LIBAG HEADER_DIR...
#
# Fails when a public function that can report an error does not name its
# caller's line, or when library code records a call site itself; with
# --rows, also when such a function has no SITE_CASE(ag_foo) row in
# DIR/*.c (the errors suite's call-site test, tests/errors/call_sites.c).
#
# The rule (ag/error.h): every public function that can reach ag__fail is
# declared as ag_foo_ with a call-site macro
#     #define ag_foo(...) AG_AT(ag_foo_, __VA_ARGS__)
# in a public header, and library code calls the ag_foo_ forms only (a macro
# inside the library would overwrite the user's line with the library's).
#
# How: objdump -d -r -t of the built static library gives, per object file,
# the functions (global and static, including the compiler's .part, .isra,
# .constprop and ._omp_fn clones) and what each refers to: direct call and
# jmp targets, relocations (calls to other objects, tail calls, addresses
# taken, e.g. an OpenMP body handed to the runtime) and a function's .cold
# part; names sharing one address (folded identical functions) count as one.
# From that call graph it finds every global ag_* function that can
# reach ag__fail, and checks each against the headers.
#
# Not followed: calls through function pointers stored in data (an op's
# backward in its ag_op, a module type's forward and describe, the error
# handler). Those are reached from public functions that are checked on
# their own paths (ag_backward, ag_module_forward, ...).
#
# Prints the offenders and exits 1; exits 0 when there are none. A parse
# that finds no reporter at all (a changed objdump format) also fails, as
# does a library without ag__fail.
set -euo pipefail

rows_dir=
if [ "${1:-}" = --rows ] && [ $# -ge 2 ]; then
    rows_dir=$2
    shift 2
fi
if [ $# -lt 2 ]; then
    echo "usage: $0 [--rows DIR] LIBAG HEADER_DIR..." >&2
    exit 2
fi
lib=$1
shift
objdump=${OBJDUMP:-objdump}

# Every wrapper macro in the public headers: lines "ag_foo ag_foo_" for
#   #define ag_foo(...) AG_AT(ag_foo_, ...     (or AG_AT_BOOL, AG_AT_PTR, ...)
define_re='^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}'
wrapper_re="${define_re}"'\(ag_[A-Za-z0-9_]*\)(\.\.\.)[[:space:]]*AG_AT[A-Z0-9_]*(\([A-Za-z0-9_]*\),.*'
wrappers=$(for d in "$@"; do cat "$d"/*.h; done | sed -n "s/${wrapper_re}/\\1 \\2/p")

# The functions with a call-site test row: "SITE_CASE(ag_foo)" -> "ag_foo".
rows=
if [ -n "$rows_dir" ]; then
    rows=$(cat "$rows_dir"/*.c | { grep -o 'SITE_CASE(ag_[A-Za-z0-9_]*)' || true; } |
        sed 's/^SITE_CASE(//; s/)$//')
fi

{
    echo "#WRAPPERS"
    printf '%s\n' "$wrappers"
    if [ -n "$rows_dir" ]; then
        echo "#ROWS"
        printf '%s\n' "$rows"
    fi
    echo "#SYMBOLS"
    "$objdump" -t "$lib"
    echo "#CODE"
    "$objdump" -d -r "$lib"
} | awk '
function base(s) { sub(/[-+]0x[0-9a-f]+$/, "", s); return s }
# The graph node of name s seen in object o: static names belong to their object.
function node(o, s) { return ((o SUBSEP s) in local_fn) ? o ":" s : s }
function edge(from, to) { if (from != "" && to != from) rev[to] = rev[to] " " from }
function problem(text) { print "call-sites: " text; bad++ }
# The target shown on an instruction waits for the next line: a relocation
# there means the shown address is only the placeholder that the linker
# fills in (a call or jmp to another object shows the next instruction, at
# the end of a function the next function), and the symbol of the
# relocation counts instead.
function settle() { if (pending != "") edge(pending_from, pending); pending = "" }

/^#WRAPPERS$/ { part = "w"; next }
/^#ROWS$/     { part = "r"; check_rows = 1; next }
/^#SYMBOLS$/  { part = "s"; next }
/^#CODE$/     { part = "c"; next }

part == "w" && NF == 2 { macro_of[$2] = $1; next }
part == "r" && NF == 1 { has_row[$1] = 1; next }

# objdump -t: "addr flags section size name"; flags are 7 columns (g/l ... F).
(part == "s" || part == "c") && /:[[:space:]]+file format / {
    settle()
    obj = $1; sub(/:$/, "", obj); fn = ""; next
}
part == "s" && NF >= 6 && $3 == "F" && $4 != "*UND*" {
    name = $NF
    if ($2 == "l") local_fn[obj, name] = 1
    else if ($2 == "g") global_fn[name] = 1
    # names for one address (identical functions folded into one body)
    at = obj SUBSEP $4 SUBSEP $1
    names_at[at] = names_at[at] " " name
    obj_at[at] = obj
    next
}

# objdump -d: "0000000000000000 <name>:" starts a function.
part == "c" && /^[0-9a-f]+ <[^>]+>:$/ {
    settle()
    name = $2; sub(/^</, "", name); sub(/>:$/, "", name)
    fn = node(obj, name)
    defined[fn] = 1
    if (name ~ /\.cold$/) {
        parent = name; sub(/\.cold$/, "", parent); edge(node(obj, parent), fn)
    }
    next
}
part == "c" && fn != "" {
    # a relocation: "   53: R_X86_64_PLT32  ag__fail-0x4"
    if ($2 ~ /^R_/) {
        pending = ""
        target = base($3)
        if (target !~ /^\./) edge(fn, node(obj, target))
        next
    }
    settle()
    # a resolved reference: "call 680 <topo_sort>", "lea ... # 3b0 <f._omp_fn.1>"
    if (match($0, /[0-9a-f]+ <[^<>+]+>$/)) {
        ref = substr($0, RSTART, RLENGTH); sub(/^[0-9a-f]+ </, "", ref); sub(/>$/, "", ref)
        pending = node(obj, ref); pending_from = fn
    }
}

END {
    settle()
    # A body under several names: each name reaches what the body reaches.
    for (at in names_at) {
        n = split(names_at[at], names, " ")
        for (i = 2; i <= n; i++) {
            edge(node(obj_at[at], names[i - 1]), node(obj_at[at], names[i]))
            edge(node(obj_at[at], names[i]), node(obj_at[at], names[i - 1]))
        }
    }
    if (!("ag__fail" in defined)) {
        print "call-sites: ag__fail is not in the library (did the parse fail?)"; exit 1
    }
    # Everything that can reach ag__fail: a walk over the reversed edges.
    queue[1] = "ag__fail"; reach["ag__fail"] = 1; head = 1; tail = 1
    while (head <= tail) {
        cur = queue[head++]
        n = split(rev[cur], callers, " ")
        for (i = 1; i <= n; i++)
            if (!(callers[i] in reach)) { reach[callers[i]] = 1; queue[++tail] = callers[i] }
    }
    bad = 0; reporters = 0
    for (f in reach) {
        if (!(f in global_fn) || f !~ /^ag_[^_]/) continue
        reporters++
        m = f; sub(/_$/, "", m)
        if (f !~ /_$/)
            problem(f " can report an error but has no call-site macro: rename it " f "_ and " \
                    "add #define " f "(...) AG_AT(" f "_, __VA_ARGS__)")
        else if (!(f in macro_of) || macro_of[f] != m)
            problem(f " can report an error but no public header has #define " m "(...) " \
                    "AG_AT(" f ", __VA_ARGS__)")
        else if (check_rows && !(m in has_row))
            problem(m " can report an error but has no row in the call-site test: add " \
                    "SITE_CASE(" m ") to tests/errors/sites_*.c")
    }
    # Library code that records a call site uses a public macro internally.
    split("ag_set_call_site ag__site_push", recorders, " ")
    for (r = 1; r <= 2; r++) {
        n = split(rev[recorders[r]], callers, " ")
        for (i = 1; i <= n; i++)
            problem(callers[i] " calls " recorders[r] ": library code must call the " \
                    "ag_foo_ form, not the ag_foo macro")
    }
    if (reporters == 0 || !("ag_add_" in reach)) {
        print "call-sites: found no public reporter (ag_add_ should be one): the objdump " \
              "output was not understood"
        exit 1
    }
    printf "call-sites: %d public functions can report; %d problem(s)\n", reporters, bad
    exit bad > 0
}
'
