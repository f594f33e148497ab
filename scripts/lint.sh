#!/usr/bin/env bash
# Lints mproc for what the gcc builds cannot see. Exits non-zero when any check fails.
#
#   ./scripts/lint.sh              every check
#   ./scripts/lint.sh --no-docs    all but the API reference
#
# 1. msvc-c99   MSVC cannot run here, so clang stands in for it: every file of src/ (front end and
#               src/win32) and include/, and every header there on its own, compiles with clang
#               for x86_64-w64-mingw32 with -std=c99 -pedantic -Werror=gnu -Werror=vla -Werror,
#               against the MinGW-w64 headers only (never the host's /usr/include); once for the
#               static and once for the DLL build (-DMPROC_SHARED -DMPROC_BUILDING).
# 2. gnu-only   no __attribute__ or __builtin in src/ or include/, except inside a preprocessor
#               conditional that keeps it from MSVC: a chain (#if ... #endif) with an _MSC_VER
#               branch, or a branch whose condition requires __GNUC__ or __clang__ (MSVC defines
#               neither). Offenders are listed as file:line.
# 3. format     clang-format --dry-run --Werror over include/ src/ tests/ examples/ bench/.
# 4. docs       the `docs` target (Doxygen, WARN_AS_ERROR): every public declaration documented,
#               no warning. Built in build/lint.
# 5. bad-input  docs/bad-input.md against tests/test_badinput.c (scripts/check-bad-input.sh, then
#               its --self-test): every row has its registered test and every test its row, the
#               row count, and the rows that fail today agree with their FAILS_TODAY checks.
#
# Installs what is missing on a Debian 12 machine when run as root (scripts/deps.sh, group lint).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

usage() {
    sed -n '2,25s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

do_docs=1
while [ $# -gt 0 ]; do
    case "$1" in
    --no-docs) do_docs=0 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    shift
done

groups=(lint)
[ "$do_docs" = 1 ] && groups+=(build)
mproc_deps "${groups[@]}"

passed=()
failed=()
check_done() { # NAME STATUS
    if [ "$2" -eq 0 ]; then
        passed+=("$1")
        echo "==> $1: ok"
    else
        failed+=("$1")
        echo "==> $1: FAILED"
    fi
}

# ---- 1. msvc-c99 ----------------------------------------------------------------------------------
echo "==> msvc-c99: clang --target=x86_64-w64-mingw32 -std=c99 -pedantic on src/, src/win32/, include/"
mingw_inc=/usr/x86_64-w64-mingw32/include
clang_inc="$(clang -print-resource-dir)/include"
status=0
if [ ! -f "$mingw_inc/windows.h" ]; then
    echo "error: no MinGW-w64 headers in $mingw_inc (Debian: mingw-w64-x86-64-dev)" >&2
    status=1
else
    cflags=(--target=x86_64-w64-mingw32 -std=c99 -pedantic -Werror=gnu -Werror=vla -Werror
        -fsyntax-only -nostdinc -isystem "$clang_inc" -isystem "$mingw_inc"
        -I"$root/include" -I"$root/src")
    shopt -s nullglob
    sources=(src/*.c src/win32/*.c)
    headers=(include/*.h src/*.h src/win32/*.h)
    shopt -u nullglob
    for defs in "" "-DMPROC_SHARED -DMPROC_BUILDING"; do
        # shellcheck disable=SC2086 # $defs is zero or two words
        for f in "${sources[@]}"; do
            clang "${cflags[@]}" $defs "$f" || {
                echo "    in: $f ${defs:-(static build)}"
                status=1
            }
        done
        # shellcheck disable=SC2086
        for f in "${headers[@]}"; do
            clang "${cflags[@]}" $defs -x c "$f" || {
                echo "    in: $f on its own ${defs:-(static build)}"
                status=1
            }
        done
    done
    echo "    ${#sources[@]} sources and ${#headers[@]} headers, twice (static, DLL)"
fi
check_done msvc-c99 "$status"

# ---- 2. gnu-only ----------------------------------------------------------------------------------
echo "==> gnu-only: __attribute__ / __builtin outside an _MSC_VER or __GNUC__ conditional"
# One file at a time. Comments are dropped first; a directive continued with '\' is read whole.
# Each #if/#ifdef/#ifndef opens a chain; the current branch's condition is kept per level. An
# occurrence is fine when a level's branch requires __GNUC__/__clang__ (see requires_gnu), or
# when any enclosing chain has an _MSC_VER branch (known at its #endif, so decided at the end).
# shellcheck disable=SC2016 # an awk program: its $ are awk's
gnu_only_awk='
function strip_comments(s,    out, i, j) {
    out = ""
    while (s != "") {
        if (in_comment) {
            j = index(s, "*/")
            if (j == 0) return out
            s = substr(s, j + 2)
            in_comment = 0
            continue
        }
        i = index(s, "/*")
        j = index(s, "//")
        if (j > 0 && (i == 0 || j < i)) return out substr(s, 1, j - 1)
        if (i == 0) return out s
        out = out substr(s, 1, i - 1) " "
        s = substr(s, i + 2)
        in_comment = 1
    }
    return out
}
# A condition requires a GNU compiler when each of its ||-parts has an &&-part that tests
# __GNUC__ or __clang__ without a "!".
function requires_gnu(c,    ors, ands, i, j, no, na, found) {
    no = split(c, ors, /\|\|/)
    for (i = 1; i <= no; i++) {
        found = 0
        na = split(ors[i], ands, /&&/)
        for (j = 1; j <= na; j++)
            if (ands[j] !~ /!/ && ands[j] ~ /(^|[^A-Za-z0-9_])__(GNUC|clang)__([^A-Za-z0-9_]|$)/)
                found = 1
        if (!found) return 0
    }
    return no > 0
}
FNR == 1 { in_comment = 0; depth = 0; pending = "" }
{
    line = strip_comments($0)
    if (pending != "") {
        line = pending " " line
        pending = ""
    }
    if (line ~ /^[ \t]*#/ && line ~ /\\[ \t]*$/) {
        sub(/\\[ \t]*$/, "", line)
        pending = line
        next
    }
    if (line ~ /^[ \t]*#[ \t]*(if|ifdef|ifndef)([^A-Za-z0-9_]|$)/) {
        depth++
        chain[depth] = ++nchains
        cond = line
        sub(/^[ \t]*#[ \t]*/, "", cond)
        if (cond ~ /^ifndef/) cond = "!" cond
        branch[depth] = cond
        nbranch[depth] = 1
        if (cond ~ /_MSC_VER/) msc[nchains] = 1
        next
    }
    if (line ~ /^[ \t]*#[ \t]*elif([^A-Za-z0-9_]|$)/) {
        branch[depth] = line
        nbranch[depth]++
        if (line ~ /_MSC_VER/) msc[chain[depth]] = 1
        next
    }
    if (line ~ /^[ \t]*#[ \t]*else([^A-Za-z0-9_]|$)/) {
        # The #else of a lone "#ifndef __GNUC__" is the GNU branch; any other #else is not.
        if (nbranch[depth] == 1 && branch[depth] ~ /^!ifndef[ \t]+__(GNUC|clang)__[ \t]*$/)
            branch[depth] = "defined(__GNUC__)"
        else
            branch[depth] = "!else"
        next
    }
    if (line ~ /^[ \t]*#[ \t]*endif([^A-Za-z0-9_]|$)/) {
        if (depth > 0) depth--
        next
    }
    if (line !~ /__attribute__|__builtin/) next
    gnu = 0
    chains = ""
    for (d = 1; d <= depth; d++) {
        if (requires_gnu(branch[d])) gnu = 1
        chains = chains " " chain[d]
    }
    if (gnu) next
    n++
    where[n] = FILENAME ":" FNR ": " $0
    within[n] = chains
}
END {
    bad = 0
    for (k = 1; k <= n; k++) {
        ok = 0
        m = split(within[k], ids, " ")
        for (d = 1; d <= m; d++) if (ids[d] in msc) ok = 1
        if (!ok) {
            print "    " where[k]
            bad++
        }
    }
    exit bad > 0
}'
mapfile -t gnu_files < <(find src include -type f \( -name '*.c' -o -name '*.h' \) | sort)
if awk "$gnu_only_awk" "${gnu_files[@]}"; then
    status=0
    echo "    ${#gnu_files[@]} files"
else
    status=1
    echo "    (each line above: an __attribute__ or __builtin that MSVC would see)"
fi
check_done gnu-only "$status"

# ---- 3. format ------------------------------------------------------------------------------------
echo "==> format: clang-format --dry-run --Werror over include/ src/ tests/ examples/ bench/"
fmt_dirs=()
for d in include src tests examples bench; do
    [ -d "$d" ] && fmt_dirs+=("$d")
done
mapfile -t fmt_files < <(find "${fmt_dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) | sort)
if clang-format --dry-run --Werror "${fmt_files[@]}"; then
    status=0
    echo "    ${#fmt_files[@]} files"
else
    status=1
    echo "    (clang-format -i <file> fixes a file)"
fi
check_done format "$status"

# ---- 4. docs --------------------------------------------------------------------------------------
if [ "$do_docs" = 1 ]; then
    echo "==> docs: the API reference (Doxygen, warnings are errors), in build/lint/docs/html"
    lint_build="$root/build/lint"
    mkdir -p "$root/build"
    if cmake -S "$root" -B "$lint_build" -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_EXAMPLES=OFF \
        -DMPROC_BUILD_BENCH=OFF -DMPROC_BUILD_FUZZ=OFF >"$root/build/lint-configure.log" 2>&1 &&
        cmake --build "$lint_build" --target docs; then
        status=0
    else
        status=1
        [ -f "$root/build/lint-configure.log" ] && tail -n 20 "$root/build/lint-configure.log"
    fi
    check_done docs "$status"
fi

# ---- 5. bad-input ---------------------------------------------------------------------------------
echo "==> bad-input: docs/bad-input.md against tests/test_badinput.c"
if "$root/scripts/check-bad-input.sh" && "$root/scripts/check-bad-input.sh" --self-test >/dev/null; then
    status=0
else
    status=1
fi
check_done bad-input "$status"

echo
total=$((${#passed[@]} + ${#failed[@]}))
if [ ${#failed[@]} -eq 0 ]; then
    echo "lint: all $total checks ok (${passed[*]})"
    exit 0
fi
echo "lint: ${#failed[@]} of $total checks FAILED: ${failed[*]}"
exit 1
