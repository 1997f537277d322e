#!/bin/sh
# check-out-of-tree.sh PREFIX SRCDIR - build the example plugin out of tree
# against the Spin installed under PREFIX (headers and flags from
# pkg-config), then load it through the installed libspin and spin-info.
# Run by `make installcheck` (and so by `make distcheck`).
set -eu
prefix=$1
src=$2
CC=${CC:-cc}
pcdir=$prefix/lib/pkgconfig
[ -f "$pcdir/spin.pc" ] || { echo "FAIL: $pcdir/spin.pc not installed"; exit 1; }
PKG_CONFIG_PATH=$pcdir
export PKG_CONFIG_PATH
pc() { pkg-config --define-variable=prefix="$prefix" "$@" spin; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spin-oot-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
plugindir=$(pc --variable=plugindir)
[ -d "$plugindir" ] || { echo "FAIL: plugindir $plugindir from spin.pc does not exist"; exit 1; }
$CC -std=c11 -Wall -Wextra -Werror -fPIC -shared $(pc --cflags) \
    -o "$tmp/spin_example.so" "$src/example_plugin.c" $(pc --libs)
$CC -std=c11 -Wall -Wextra -Werror $(pc --cflags) \
    -o "$tmp/use_example" "$src/use_example.c" $(pc --libs)
LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
SPIN_PLUGIN_PATH=$tmp SPIN_BACKEND=example "$tmp/use_example"
out=$(SPIN_PLUGIN_PATH=$tmp SPIN_BACKEND=example "$prefix/bin/spin-info")
echo "$out" | grep -E '^  example +compute +ready\*' >/dev/null || {
    echo "FAIL: spin-info does not show the example plugin selected:"; echo "$out"; exit 1; }
echo "PASS: out-of-tree example plugin built with pkg-config and loaded"
