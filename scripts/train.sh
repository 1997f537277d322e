#!/bin/sh
# train.sh - the main job of README.md: install the dependencies, build, and
# train LeNet on Fashion-MNIST securely with 2 parties + the dealer on this
# host (spin-run -n 2), a short run with progress and a final accuracy line.
# Usage: scripts/train.sh [--no-deps] [spin-train options...]
# (defaults: --model lenet --epochs 1 --train-limit 6400 --test-limit 1000)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
deps=1
if [ "${1:-}" = "--no-deps" ]; then deps=0; shift; fi
[ $deps -eq 1 ] && sh "$here/scripts/deps.sh"
jobs=$(nproc 2>/dev/null || echo 2)
cd "$here"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
mkdir -p build
(cd build && { [ -f Makefile ] || ../configure -q; } && make -j"$jobs" -s)
b="$here/build"
export SPIN_PLUGIN_PATH="$b/plugins/cpu/.libs:$b/plugins/tcp/.libs"
[ $# -gt 0 ] || set -- --model lenet --epochs 1 --train-limit 6400 --test-limit 1000
echo "train.sh: 2 parties + dealer, secure training: spin-train $*"
exec "$b/apps/spin-run" -n 2 -- "$b/apps/spin-train" "$@"
