#!/bin/sh
# train.sh - the main job of README.md: install the dependencies, build, and
# train LeNet on Fashion-MNIST securely with 2 parties + the dealer on this
# host (spin-run -n 2), a short run with progress and a final accuracy line.
# Usage: scripts/train.sh [--no-deps] [spin-train options...]
# (defaults: --model lenet --epochs 1 --train-limit 6400 --test-limit 1000;
# SPIN_FRAC_BITS=18 unless set)
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
# Training needs more fractional bits than inference: LeNet's gap to the
# float64 run is 0.45 points at f = 18 and 1.3 at the library's default 16
# (docs/PERFORMANCE.md). Every process (parties and dealer) reads it here.
export SPIN_FRAC_BITS="${SPIN_FRAC_BITS:-18}"
echo "train.sh: 2 parties + dealer, f = $SPIN_FRAC_BITS, secure training: spin-train $*"
exec "$b/apps/spin-run" -n 2 -- "$b/apps/spin-train" "$@"
