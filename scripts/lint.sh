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
# 2. gnu-only   every GNU-only construct clang-cl would accept and cl.exe would not
#               (__attribute__, __builtin_*, __extension__, __asm__, statement expressions "({")
#               in the C files of src/ include/ tests/ examples/ bench/ stands on a line that
#               scripts/gnu-only.allow names (each behind a conditional MSVC never takes).
#               Offenders are listed as file:line.
# 3. format     clang-format --dry-run --Werror over include/ src/ tests/ examples/ bench/.
# 4. sources    every .c and .h under src/ is in cmake/MprocSources.cmake, every tests/test_*.c in
#               tests/CMakeLists.txt's MPROC_TEST_SUITES, every examples/*.c in MPROC_EXAMPLES:
#               nothing is built by a glob, so nothing may be left out of a list.
# 5. docs       the `docs` target (Doxygen, WARN_AS_ERROR): every public declaration documented,
#               no warning. Built in build/lint.
# 6. bad-input  docs/bad-input.md against tests/test_badinput.c (scripts/check-bad-input.sh, then
#               its --self-test): every row has its registered test and every test its row, the
#               row count, and the rows that fail today agree with their FAILS_TODAY checks.
#
# Installs what is missing on a Debian 12 machine when run as root (scripts/common.sh, group lint).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
# shellcheck source=scripts/common.sh
. "$root/scripts/common.sh"

do_docs=1
option() {
    case "$1" in
    --no-docs) do_docs=0 ;;
    *) return 1 ;;
    esac
}
mproc_parse_args option "$@"

groups=(lint)
[ "$do_docs" = 1 ] && groups+=(build)
mproc_deps "${groups[@]}"

# print_list NAME: one list of cmake/MprocSources.cmake (public, public_mpi; front, posix, win32,
# mpi; +_headers).
print_list() {
    cmake -DMPROC_PRINT="$1" -P "$root/cmake/MprocSources.cmake"
}

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
    # The library's own list (cmake/MprocSources.cmake): what the Windows build compiles.
    mapfile -t sources < <(print_list front && print_list win32)
    mapfile -t headers < <(print_list public && print_list front_headers && print_list win32_headers)
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
echo "==> gnu-only: GNU-only constructs in src/ include/ tests/ examples/ bench/ are on the allow-list"
# scripts/gnu-only.allow names each line (file, then the line's text, trimmed) that may use one:
# each sits behind a conditional MSVC never takes. A new use is either kept from MSVC that way
# and added to the list, or written portably.
status=0
allow="$root/scripts/gnu-only.allow"
uses=0
while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    text=$(printf '%s' "${rest#*:}" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
    uses=$((uses + 1))
    if ! grep -qxF "$file $text" "$allow"; then
        echo "    $file:$line: $text"
        status=1
    fi
done < <(grep -rnE --include='*.c' --include='*.h' '__attribute__|__builtin|__extension__|__asm__|\(\{' \
    src include tests examples bench | sort)
if [ "$status" -ne 0 ]; then
    echo "    (each line above is not in scripts/gnu-only.allow: MSVC would see it)"
else
    echo "    $uses allowed uses"
fi
check_done gnu-only "$status"

# ---- 3. format ------------------------------------------------------------------------------------
echo "==> format: clang-format --dry-run --Werror over include/ src/ tests/ examples/ bench/"
fmt_dirs=()
for d in include src tests examples bench cmake; do
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

# ---- 4. sources -----------------------------------------------------------------------------------
echo "==> sources: every file is in its list (cmake/MprocSources.cmake, the suites, the examples)"
status=0
# cmake_list FILE NAME: the entries of `set(NAME ...)` in a CMakeLists.txt, one a line.
cmake_list() {
    awk -v name="$2" '
        $0 ~ "^set\\(" name "$" { on = 1; next }
        on { last = /\)/; gsub(/[()]/, ""); for (i = 1; i <= NF; i++) print $i; if (last) on = 0 }
    ' "$1"
}
listed=$(for l in public public_mpi front posix win32 mpi front_headers posix_headers win32_headers mpi_headers; do print_list "$l"; done | sort)
present=$({ find src -type f \( -name '*.c' -o -name '*.h' \); find include -type f -name '*.h'; } | sort)
missing=$(comm -13 <(echo "$listed") <(echo "$present"))
stale=$(comm -23 <(echo "$listed") <(echo "$present"))
for f in $missing; do
    echo "    $f is not in cmake/MprocSources.cmake: it would not be built"
    status=1
done
for f in $stale; do
    echo "    cmake/MprocSources.cmake names $f, which does not exist"
    status=1
done
check_named() { # DIR PATTERN CMAKELISTS LIST
    local f name
    for f in "$1"/$2; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .c)
        if ! cmake_list "$3" "$4" | grep -qxF "$name"; then
            echo "    $f is not in $4 ($3): it would not be built"
            status=1
        fi
    done
}
check_named tests 'test_*.c' tests/CMakeLists.txt MPROC_TEST_SUITES
check_named examples '*.c' examples/CMakeLists.txt MPROC_EXAMPLES
[ "$status" -eq 0 ] && echo "    $(echo "$listed" | wc -l) library files, $(cmake_list tests/CMakeLists.txt MPROC_TEST_SUITES | wc -l) suites, $(cmake_list examples/CMakeLists.txt MPROC_EXAMPLES | wc -l) examples"
check_done sources "$status"

# ---- 5. docs --------------------------------------------------------------------------------------
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

# ---- 6. bad-input ---------------------------------------------------------------------------------
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
