#!/usr/bin/env bash
# Checks docs/bad-input.md against tests/test_badinput.c, so the table cannot go stale.
#
#   ./scripts/check-bad-input.sh [DOC TEST]   check (default: the repository's two files)
#   ./scripts/check-bad-input.sh --self-test  break copies of them in known ways; each must fail
#
# What must hold:
#   - every row of a table (| N | ... | `row_NN_what` |) names a test whose number is N, and N is
#     used by one row only;
#   - every such test is defined in the suite (static void row_NN_what(void **state)) and
#     registered in its cmocka list; every row_NN_ test the suite defines has its row;
#   - the "N rows." line gives the number of rows;
#   - three sets of row numbers are the same: the rows marked **should** (or with a "Today:"
#     note), the rows listed under "## Rows that fail today", and the rows whose test checks
#     today's result with FAILS_TODAY(N, ...) (which fails once the row gives its should result).
# Run by scripts/lint.sh and by CTest (bad_input_doc, label fork). Needs bash, grep, sed, sort.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# check DOC TEST: prints each problem; exit status 1 when there is one.
check() {
    local doc=$1 test=$2 bad=0 line n name num section=""
    local -A row_of_num=() seen_test=()
    local rows=0 should=() listed=() marked=() defined=() registered=()

    [ -r "$doc" ] || { echo "cannot read $doc"; return 1; }
    [ -r "$test" ] || { echo "cannot read $test"; return 1; }

    while IFS= read -r line; do
        if [[ $line =~ ^##\  ]]; then
            section=$line
            continue
        fi
        [[ $line =~ ^\|\ *([0-9][0-9,\ ]*)\ *\| ]] || continue
        if [ "$section" = "## Rows that fail today" ]; then
            for n in ${BASH_REMATCH[1]//,/ }; do
                listed+=("$((10#$n))")
            done
            continue
        fi
        n=$((10#${BASH_REMATCH[1]// /}))
        rows=$((rows + 1))
        if [ -n "${row_of_num[$n]-}" ]; then
            echo "row $n: appears twice"
            bad=1
        fi
        row_of_num[$n]=1
        name=""
        # Greedy: the last row_NN_ name of the line, its Test cell.
        if [[ $line =~ ^.*\`(row_[0-9]+_[A-Za-z0-9_]+)\` ]]; then
            name=${BASH_REMATCH[1]}
        fi
        if [ -z "$name" ]; then
            echo "row $n: names no row_NN_ test"
            bad=1
            continue
        fi
        num=${name#row_}
        num=${num%%_*}
        if [ "$((10#$num))" -ne "$n" ]; then
            echo "row $n: its test $name has another number"
            bad=1
        fi
        seen_test[$name]=1
        if [[ $line == *'**should**'* || $line == *'Today:'* ]]; then
            should+=("$n")
        fi
    done <"$doc"

    n=$(sed -n 's/^\([0-9][0-9]*\) rows\.$/\1/p' "$doc" | head -n 1)
    if [ -z "$n" ]; then
        echo "no \"N rows.\" line"
        bad=1
    elif [ "$n" -ne "$rows" ]; then
        echo "the file says $n rows; its tables have $rows"
        bad=1
    fi

    mapfile -t defined < <(sed -n 's/^static void \(row_[0-9][0-9]*_[A-Za-z0-9_]*\)(void \*\*state)$/\1/p' "$test")
    mapfile -t registered < <(grep -o 'cmocka_unit_test[A-Za-z_]*(row_[0-9]*_[A-Za-z0-9_]*' "$test" |
        sed 's/.*(//')
    local -A is_defined=() is_registered=()
    for name in "${defined[@]}"; do
        is_defined[$name]=1
        if [ -z "${seen_test[$name]-}" ]; then
            echo "$name: defined in the suite, but no row of the table names it"
            bad=1
        fi
    done
    for name in "${registered[@]}"; do
        is_registered[$name]=1
    done
    for name in "${!seen_test[@]}"; do
        if [ -z "${is_defined[$name]-}" ]; then
            echo "$name: named by the table, but not defined in the suite"
            bad=1
        elif [ -z "${is_registered[$name]-}" ]; then
            echo "$name: defined, but not in the suite's cmocka list (it never runs)"
            bad=1
        fi
    done

    # FAILS_TODAY(N, ...) outside its own #define, each inside row N's test.
    local where
    while read -r n where; do
        if [ "$where" != "$n" ]; then
            echo "FAILS_TODAY($n, ...) is not in row $n's test (it is in row ${where:-none}'s)"
            bad=1
        fi
        marked+=("$n")
    done < <(awk '
        /^static void row_[0-9]+_/ {
            fn = $3
            sub(/^row_0*/, "", fn)
            sub(/_.*/, "", fn)
            if (fn == "") fn = 0
        }
        /^[ \t]*#[ \t]*define/ { next }
        {
            s = $0
            while (match(s, /FAILS_TODAY\([0-9]+/)) {
                n = substr(s, RSTART + 12, RLENGTH - 12)
                sub(/^0+/, "", n)
                print n, fn
                s = substr(s, RSTART + RLENGTH)
            }
        }' "$test")

    local a b c
    a=$(printf '%s\n' "${should[@]}" | grep . | sort -n -u | tr '\n' ' ')
    b=$(printf '%s\n' "${listed[@]}" | grep . | sort -n -u | tr '\n' ' ')
    c=$(printf '%s\n' "${marked[@]}" | grep . | sort -n -u | tr '\n' ' ')
    if [ "$a" != "$b" ] || [ "$a" != "$c" ]; then
        echo "rows failing today disagree:"
        echo "    marked **should** / \"Today:\" in the tables: ${a:-none}"
        echo "    listed under \"Rows that fail today\":       ${b:-none}"
        echo "    tests using FAILS_TODAY(N, ...):             ${c:-none}"
        bad=1
    fi
    return "$bad"
}

# expect_caught WHAT DOC TEST: the check must fail on these copies.
expect_caught() {
    local what=$1 out
    if out=$(check "$2" "$3"); then
        echo "self-test: NOT caught: $what"
        return 1
    fi
    echo "self-test: caught: $what: $(head -n 1 <<<"$out")"
    return 0
}

self_test() {
    local doc="$root/docs/bad-input.md" test="$root/tests/test_badinput.c" tmp status=0
    tmp=$(mktemp -d) || return 1
    # shellcheck disable=SC2064 # expand now
    trap "rm -rf '$tmp'" RETURN
    check "$doc" "$test" >/dev/null || {
        echo "self-test: the real files do not pass; run without --self-test"
        return 1
    }
    local r=row_90_pool_map_zero_count
    # A row the library now gets right but whose **should** note stayed.
    sed "s/^\(| 90 |.*| \)\`MPROC_OK\`, 0 results/\1**should** \`MPROC_OK\`. Today: \`MPROC_EINVAL\`/" \
        "$doc" >"$tmp/should.md"
    expect_caught "a row marked should, not listed as failing" "$tmp/should.md" "$test" || status=1
    # Listed as failing, with its should note and the line below, but the test checks nothing
    # of today's result.
    { cat "$tmp/should.md"; echo "| 90 | \`MPROC_EINVAL\` | \`MPROC_OK\` |"; } >"$tmp/listed.md"
    expect_caught "a failing row whose test does not use FAILS_TODAY" "$tmp/listed.md" "$test" ||
        status=1
    # The three agree: this one must pass (the check is not simply always failing).
    sed 's/^static void '$r'(void \*\*state)$/&\n    \/* FAILS_TODAY(90, r, MPROC_EINVAL, MPROC_OK) *\//' \
        "$test" >"$tmp/t.c"
    if ! check "$tmp/listed.md" "$tmp/t.c" >/dev/null; then
        echo "self-test: a consistent failing row was rejected"
        status=1
    else
        echo "self-test: accepted: a failing row listed, marked and using FAILS_TODAY"
    fi
    # The marker in another row's test.
    sed 's/^static void row_91_[a-z_]*(void \*\*state)$/&\n    \/* FAILS_TODAY(90, r, MPROC_EINVAL, MPROC_OK) *\//' \
        "$test" >"$tmp/elsewhere.c"
    expect_caught "FAILS_TODAY(90) in row 91's test" "$tmp/listed.md" "$tmp/elsewhere.c" ||
        status=1
    # The library got fixed: the test moved to the should result, the doc did not.
    expect_caught "a row still listed as failing after its test moved on" "$tmp/listed.md" \
        "$test" || status=1
    # A renamed test, a test without a row, an unregistered test, a wrong count, a duplicate.
    sed "s/\`$r\`/\`row_90_pool_map_zero_count_renamed\`/" "$doc" >"$tmp/renamed.md"
    expect_caught "a row naming a test that does not exist" "$tmp/renamed.md" "$test" || status=1
    grep -v "^| 90 |" "$doc" | sed 's/^\([0-9]*\) rows\.$/XX/' >"$tmp/norow.md"
    n=$(grep -c '^| [0-9]* |' "$tmp/norow.md")
    sed -i "s/^XX$/$n rows./" "$tmp/norow.md"
    expect_caught "a test without a row" "$tmp/norow.md" "$test" || status=1
    grep -v "cmocka_unit_test($r)" "$test" >"$tmp/unreg.c"
    expect_caught "a test not in the cmocka list" "$doc" "$tmp/unreg.c" || status=1
    sed 's/^\([0-9]*\) rows\.$/1\1 rows./' "$doc" >"$tmp/count.md"
    expect_caught "a wrong row count" "$tmp/count.md" "$test" || status=1
    sed "s/^| 91 |\(.*\)| \`row_91_[a-z_]*\` |$/| 90 |\1| \`$r\` |/" "$doc" >"$tmp/dup.md"
    expect_caught "two rows with one number" "$tmp/dup.md" "$test" || status=1
    return "$status"
}

case "${1-}" in
--self-test)
    self_test
    exit $?
    ;;
-h | --help)
    sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
esac
doc=${1:-$root/docs/bad-input.md}
test=${2:-$root/tests/test_badinput.c}
if check "$doc" "$test"; then
    echo "bad-input: $doc agrees with $test"
    exit 0
fi
echo "bad-input: $doc and $test disagree (see above)"
exit 1
