#!/bin/sh
# test.sh - the test command of README.md, run as is by CI (.ci/run):
# install dependencies, build out of tree with warnings as errors, run the
# whole test suite, then again under AddressSanitizer + UBSan.
# Usage: scripts/test.sh [--no-deps] [--no-sanitize]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
deps=1; sanitize=1
for a in "$@"; do
    case $a in
        --no-deps) deps=0 ;;
        --no-sanitize) sanitize=0 ;;
        *) echo "test.sh: unknown option $a (use --no-deps, --no-sanitize)" >&2; exit 2 ;;
    esac
done
[ $deps -eq 1 ] && sh "$here/scripts/deps.sh"
jobs=$(nproc 2>/dev/null || echo 2)
cd "$here"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
show_logs() { for f in "$1"/tests/*.log; do case $f in */test-suite.log) ;; *) grep -q '^:test-result: FAIL\|^:test-result: ERROR' "${f%.log}.trs" 2>/dev/null && { echo "==== $f"; tail -n 60 "$f"; } ;; esac; done; return 1; }
mkdir -p build
(cd build && ../configure --enable-werror -q && make -j"$jobs" -s && make check -j"$jobs") || show_logs build
# Memory leaks: the loader and protocol suites under valgrind (in-process).
if command -v valgrind >/dev/null 2>&1; then
    (cd build/tests &&
     for t in "test_loader" "test_arith ipc" "test_compare ipc" "test_reduce ipc" "test_nn"; do
         SPIN_PLUGIN_PATH="$PWD/../plugins/cpu/.libs:$PWD/../plugins/tcp/.libs" \
         SPIN_BROKEN_PLUGIN_DIR="$PWD/broken/.libs" SPIN_LOG_LEVEL=error \
         SPIN_TEST_SCALE=small CK_FORK=no OMP_NUM_THREADS=1 \
         ../libtool --mode=execute valgrind -q --leak-check=full \
             --errors-for-leak-kinds=definite --error-exitcode=1 ./$t >valgrind-${t%% *}.log 2>&1 ||
         { echo "valgrind found errors in $t:"; tail -n 80 valgrind-${t%% *}.log; exit 1; }
     done) || exit 1
    echo "test.sh: valgrind clean (loader, arith, compare, reduce, nn)"
fi
if [ $sanitize -eq 1 ]; then
    mkdir -p build-asan
    (cd build-asan && ../configure --enable-werror -q \
        CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
        LDFLAGS="-fsanitize=address,undefined" &&
     make -j"$jobs" -s &&
     ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$here/tests/lsan.supp" \
     UBSAN_OPTIONS=print_stacktrace=1 make check -j"$jobs") || show_logs build-asan
fi
echo "test.sh: all tests passed"
