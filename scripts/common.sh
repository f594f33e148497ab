# shellcheck shell=bash
# Sourced by every script of scripts/: what they share. On a Debian 12 machine it finds what the
# build needs and installs what is missing (as root), or prints the command to run (as anyone
# else); it parses options, prints usage and collects the closing summary.
#
#   mproc_deps build tests wine      # any of the groups: build tests wine windows msvc lint
#                                    # asan valgrind fuzz mpi
#   mproc_install PKG...             # installs packages (root) or says how, then exits 1
#   mproc_cmocka_source DIR          # prints the path of cmocka 1.1.5's source, fetched from
#                                    # Debian's source package into DIR when not there yet
#   mproc_parse_args HANDLER "$@"    # calls HANDLER OPTION for each option; -h/--help prints
#                                    # the calling script's usage, an unknown one exits 2
#   mproc_summary_add LINE           # a line of the closing summary
#   mproc_summary_print TITLE        # prints "==> TITLE" and the lines

MPROC_WINE_CANDIDATES="/usr/lib/wine/wine64 /usr/lib64/wine/wine64"

mproc_is_root() {
    [ "$(id -u)" -eq 0 ]
}

mproc_have_pkg() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The Wine loader for 64-bit programs (Debian keeps it out of PATH).
mproc_find_wine() {
    local w
    for w in $MPROC_WINE_CANDIDATES; do
        if [ -x "$w" ]; then
            echo "$w"
            return 0
        fi
    done
    command -v wine64 2>/dev/null || return 1
}

mproc_deps() {
    local missing=() group
    for group in "$@"; do
        case "$group" in
        build)
            command -v cmake >/dev/null 2>&1 || missing+=(cmake)
            command -v make >/dev/null 2>&1 || missing+=(make)
            command -v gcc >/dev/null 2>&1 || missing+=(gcc)
            ;;
        tests)
            mproc_have_pkg libcmocka-dev || missing+=(libcmocka-dev)
            # The packaging tests (tests/consumer) compile with pkg-config's flags.
            command -v pkg-config >/dev/null 2>&1 || missing+=(pkgconf)
            ;;
        wine)
            mproc_find_wine >/dev/null || missing+=(wine64)
            # apt-get source (cmocka's source for the Windows tests) unpacks with dpkg-source.
            command -v dpkg-source >/dev/null 2>&1 || missing+=(dpkg-dev)
            ;;
        windows)
            command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64)
            command -v pkg-config >/dev/null 2>&1 || [[ " ${missing[*]-} " == *" pkgconf "* ]] ||
                missing+=(pkgconf)
            ;;
        msvc)
            # cmake/clang-cl-msvc.cmake: clang-cl (clang-tools-19), lld-link (lld-19), llvm-lib,
            # llvm-rc, llvm-mt and llvm-objdump (llvm-19), Wine's MSVC-compatible headers and
            # import libraries (libwine-dev).
            command -v clang-19 >/dev/null 2>&1 || missing+=(clang-19)
            [ -x /usr/lib/llvm-19/bin/clang-cl ] || missing+=(clang-tools-19)
            [ -x /usr/lib/llvm-19/bin/lld-link ] || missing+=(lld-19)
            [ -x /usr/lib/llvm-19/bin/llvm-lib ] || missing+=(llvm-19)
            mproc_have_pkg libwine-dev || missing+=(libwine-dev)
            ;;
        lint)
            # scripts/lint.sh: clang for MinGW (with MinGW-w64's headers), clang-format, and
            # doxygen for the API reference.
            command -v clang >/dev/null 2>&1 || missing+=(clang)
            command -v clang-format >/dev/null 2>&1 || missing+=(clang-format)
            command -v doxygen >/dev/null 2>&1 || missing+=(doxygen)
            [ -f /usr/x86_64-w64-mingw32/include/windows.h ] || missing+=(mingw-w64-x86-64-dev)
            ;;
        asan)
            # scripts/sanitize.sh's ASan build: clang-19 and its sanitizer runtimes (only
            # recommended by clang-19, so --no-install-recommends leaves them out).
            command -v clang-19 >/dev/null 2>&1 || missing+=(clang-19)
            mproc_have_pkg libclang-rt-19-dev || missing+=(libclang-rt-19-dev)
            ;;
        valgrind)
            command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
            ;;
        mpi)
            # The MPI component and its tests (tests/mpi, label mpi): Open MPI, mpi4py for the
            # benchmark's anchor (Debian's /usr/bin/python3), iproute2 for the two-host test.
            command -v mpiexec >/dev/null 2>&1 || missing+=(openmpi-bin)
            mproc_have_pkg libopenmpi-dev || missing+=(libopenmpi-dev)
            mproc_have_pkg python3-mpi4py || missing+=(python3-mpi4py)
            command -v ip >/dev/null 2>&1 || missing+=(iproute2)
            ;;
        fuzz)
            # libFuzzer's runtime: only recommended by clang.
            command -v clang >/dev/null 2>&1 || missing+=(clang)
            mproc_have_pkg libclang-rt-dev || missing+=(libclang-rt-dev)
            ;;
        *)
            echo "mproc_deps: unknown group '$group'" >&2
            return 2
            ;;
        esac
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    mproc_install "${missing[@]}"
}

mproc_install() {
    [ $# -eq 0 ] && return 0
    local cmd="apt-get update && apt-get install -y --no-install-recommends $*"
    if ! mproc_is_root; then
        echo "Missing packages: $*" >&2
        echo "Install them as root, then run this script again:" >&2
        echo "  sudo sh -c '$cmd'" >&2
        exit 1
    fi
    echo "==> installing $*"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$@"; }; then
        echo "error: could not install $*" >&2
        exit 1
    fi
}

# The calling script's usage: its leading comment block, from line 2 to the first line that is
# not a comment.
mproc_usage() {
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
}

mproc_parse_args() {
    local handler=$1
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help)
            mproc_usage
            exit 0
            ;;
        esac
        if ! "$handler" "$1"; then
            echo "unknown option: $1" >&2
            mproc_usage >&2
            exit 2
        fi
        shift
    done
}

MPROC_SUMMARY=()
mproc_summary_add() {
    MPROC_SUMMARY+=("$1")
}

mproc_summary_print() {
    local line
    echo
    echo "==> $1"
    for line in "${MPROC_SUMMARY[@]}"; do
        echo "$line"
    done
}

MPROC_DEB_SRC_FILE=/etc/apt/sources.list.d/mproc-deb-src.sources

mproc_deb_src_text() {
    cat <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# cmocka 1.1.5 for the MinGW build, from Debian's source package (the upstream tarball plus a
# doc-only patch), so no network beyond Debian's mirror is needed.
mproc_cmocka_source() {
    local dir=$1 src
    mkdir -p "$dir"
    src=$(ls -d "$dir"/cmocka-1.1.5 2>/dev/null)
    if [ -n "$src" ] && [ -f "$src/CMakeLists.txt" ]; then
        echo "$src"
        return 0
    fi

    local aptopt=()
    if mproc_is_root; then
        # root downloads unsandboxed into a folder _apt cannot write; say so, quietly.
        aptopt=(-o APT::Sandbox::User=root)
        if [ ! -f "$MPROC_DEB_SRC_FILE" ]; then
            echo "==> adding Debian's source packages ($MPROC_DEB_SRC_FILE)" >&2
            mproc_deb_src_text >"$MPROC_DEB_SRC_FILE"
            apt-get update -q >&2 || return 1
        fi
    fi
    if ! (cd "$dir" && apt-get "${aptopt[@]}" source -q cmocka >&2); then
        if mproc_is_root; then
            # A source list that was there but not yet read.
            apt-get update -q >&2 || return 1
            (cd "$dir" && apt-get "${aptopt[@]}" source -q cmocka >&2) || return 1
        else
            echo "error: 'apt-get source cmocka' failed. Add Debian's source packages as root:" >&2
            {
                echo "  sudo tee $MPROC_DEB_SRC_FILE <<'EOF'"
                mproc_deb_src_text
                echo "EOF"
            } >&2
            echo "  sudo apt-get update" >&2
            return 1
        fi
    fi
    src=$(ls -d "$dir"/cmocka-1.1.5 2>/dev/null)
    if [ -z "$src" ]; then
        echo "error: Debian's cmocka source is not version 1.1.5: $(ls "$dir")" >&2
        return 1
    fi
    echo "$src"
}
