#!/usr/bin/env bash
# count_lines.sh FILE...        the lines of code of each file, then its name
# count_lines.sh --table        the table of docs/examples.md (ag against PyTorch)
# count_lines.sh --check DOC    fails unless DOC holds that table between the
#                               lines <!-- line-counts:begin --> and <!-- line-counts:end -->
#
# A line of code is a line that is not blank, not only a comment (C: // or a
# /* ... */ block; Python: #), not an #include or import line, not a header's
# include guard (#ifndef NAME_H, #define NAME_H, #endif), and not part of
# main's frame: in C the line "int main(...) {", main's last "return ...;" and
# its closing "}"; in Python "def main():", main's last "return ...", the line
# 'if __name__ == "__main__":' and the call under it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

count() {
    case "$1" in
    *.py) lang=py ;;
    *) lang=c ;;
    esac
    awk -v lang="$lang" '
    { line[NR] = $0 }
    END {
        n = 0; inblock = 0; inmain = 0; mainret = 0; guard = 0; last = 0
        # a header'\''s guard: its #ifndef NAME_H and #define NAME_H, and the
        # #endif that is its last non-blank line
        for (i = 1; i <= NR; i++) {
            if (line[i] ~ /^#ifndef [A-Z0-9_]+_H$/) guard = 1
            if (line[i] !~ /^[ \t]*$/) last = i
        }
        # main'\''s last return: the last line of main'\''s body that starts with "return"
        for (i = 1; i <= NR; i++) {
            s = line[i]
            if (lang == "c" && s ~ /^int main\(/) inmain = 1
            else if (lang == "c" && inmain && s ~ /^}/) inmain = 0
            else if (lang == "py" && s ~ /^def main\(/) inmain = 1
            else if (lang == "py" && inmain && s ~ /^[^ \t]/) inmain = 0
            if (inmain && s ~ /^    return[ ;]/) mainret = i
        }
        inmain = 0
        for (i = 1; i <= NR; i++) {
            s = line[i]; t = s; sub(/^[ \t]+/, "", t)
            if (lang == "c") {
                if (inblock) { if (t ~ /\*\//) inblock = 0; continue }
                if (t ~ /^\/\*/) { if (t !~ /\*\//) inblock = 1; continue }
                if (t == "" || t ~ /^\/\// || t ~ /^#include/) continue
                if (guard && (s ~ /^#(ifndef|define) [A-Z0-9_]+_H$/ || (i == last && s ~ /^#endif/)))
                    continue
                if (s ~ /^int main\(/) { inmain = 1; continue }
                if (inmain && s ~ /^}/) { inmain = 0; continue }
            } else {
                if (t == "" || t ~ /^#/ || t ~ /^(import|from) /) continue
                if (s ~ /^def main\(/ || s ~ /^if __name__ == /) continue
                if (s ~ /^    sys\.exit\(main\(\)\)/) continue
            }
            if (i == mainret) continue
            n++
        }
        print n
    }' "$1"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }

table() {
    echo "| program | ag (C) | PyTorch | ratio |"
    echo "| --- | ---: | ---: | ---: |"
    row() { # title, C files (comma-separated), Python files
        local c=0 p=0 f
        for f in ${2//,/ }; do c=$((c + $(count "$here/$f"))); done
        for f in ${3//,/ }; do p=$((p + $(count "$here/$f"))); done
        echo "| $1 | $c | $p | $(ratio "$c" "$p") |"
    }
    row "(a) regression MLP: \`regression_mlp\`" regression_mlp.c regression_mlp.py
    row "(b) ScaleNorm, the op: \`scalenorm_op\`" scalenorm_op.c scalenorm_op.py
    row "(b) ScaleNorm, the module (ag: and the header): \`scalenorm_module\`" \
        scalenorm_module.c,scalenorm.h scalenorm_module.py
    row "(b) ScaleNorm, its gradient checks: \`scalenorm_check\`" scalenorm_check.c scalenorm_check.py
    row "(b) ScaleNorm, the three together" \
        scalenorm_op.c,scalenorm_module.c,scalenorm.h,scalenorm_check.c \
        scalenorm_op.py,scalenorm_module.py,scalenorm_check.py
    row "(c) save and load: \`save_load\`" save_load.c save_load.py
}

case "${1:-}" in
--table) table ;;
--check)
    doc="${2:?--check DOC}"
    got="$(sed -n '/^<!-- line-counts:begin -->$/,/^<!-- line-counts:end -->$/p' "$doc" | sed '1d;$d')"
    want="$(table)"
    if [ "$got" != "$want" ]; then
        echo "$doc: the table between <!-- line-counts:begin/end --> is not what $0 --table prints:" >&2
        diff <(echo "$want") <(echo "$got") >&2 || true
        exit 1
    fi
    echo "$doc: the line counts match" ;;
"" | -*) sed -n '2,4p' "$0" | sed 's/^# //' >&2; exit 2 ;;
*) for f in "$@"; do echo "$(count "$f") $f"; done ;;
esac
