#!/bin/sh
# layering.sh CORE_DIR - check the layering rules of libspin's sources
# (core/README.md).  Prints one line per violation and exits 1 if there is
# any, 0 if none.  Used by layering.test, which also proves on a copy of
# the tree that an injected violation fails.
#
# Layers, lowest first; a file may use its own layer and the ones before:
#   runtime < launch < mpc < {dealer, fn} < nn
# (dealer and fn are siblings: neither may use the other.)
# Rules, on every .c/.h under CORE_DIR (public headers under include/spin/
# belong to the layer that implements them):
#   1. #include "LAYER/..." or <spin/HEADER.h> only of its own or a lower layer;
#   2. nn uses only public headers (no mpc/ or fn/ internals) and calls no
#      plugin op (->compute, ->transport, compute_state);
#   3. no socket, file or directory is opened below apps, except in launch/
#      (peers files, ports, temporary directories) and runtime/loader.c
#      (the plugin directories it scans).
set -u
core=${1:?usage: layering.sh CORE_DIR}
[ -d "$core/mpc" ] && [ -d "$core/include/spin" ] ||
    { echo "layering.sh: $core does not look like Spin's core/ (no mpc/ or include/spin/)" >&2; exit 2; }

files=$(find "$core" \( -name '*.c' -o -name '*.h' \) -print | sort)
# shellcheck disable=SC2086 # file names are Spin's own: no blanks
awk -v core="$core" '
function rank(l) {
    if (l == "runtime") return 0; if (l == "launch") return 1; if (l == "mpc") return 2;
    if (l == "dealer" || l == "fn") return 3; if (l == "nn") return 4; return -1
}
# The layer of a public header.
function pub(h) {
    if (h ~ /^(spin|plugin|plugin_compute|plugin_transport|errors|log)\.h$/) return "runtime"
    if (h == "launch.h") return "launch"; if (h == "mpc.h") return "mpc"
    if (h == "functions.h" || h == "reduce.h") return "fn"; if (h == "nn.h") return "nn"
    return ""
}
function may_use(me, it) {
    if (me == it) return 1
    if (rank(it) < 0 || rank(me) < 0) return 0
    return rank(it) < rank(me)
}
function bad(msg) { print FILENAME ":" FNR ": " msg; nbad++ }
FNR == 1 {
    rel = substr(FILENAME, length(core) + 2)
    split(rel, part, "/")
    if (part[1] == "include") layer = pub(part[3]); else layer = part[1]
    if (rank(layer) < 0) { print FILENAME ": not in any layer folder (runtime launch mpc dealer fn nn)"; nbad++ }
    incomment = 0
}
{
    line = $0
    # Drop comments (block comments may span lines) and string literals.
    out = ""
    while (line != "") {
        if (incomment) {
            e = index(line, "*/"); if (!e) { line = ""; break }
            line = substr(line, e + 2); incomment = 0; continue
        }
        s = index(line, "/*"); c = index(line, "//")
        if (c && (!s || c < s)) { out = out substr(line, 1, c - 1); line = ""; break }
        if (!s) { out = out line; line = ""; break }
        out = out substr(line, 1, s - 1); line = substr(line, s + 2); incomment = 1
    }
    code = out
}
code ~ /^[ \t]*#[ \t]*include[ \t]*"[a-z]+\// {
    match(code, /"[a-z]+\//); it = substr(code, RSTART + 1, RLENGTH - 2)
    if (!may_use(layer, it)) bad(layer " includes a header of layer " it ": " code)
    else if (layer == "nn" && it != "nn") bad("nn includes protocol internals: " code)
}
code ~ /^[ \t]*#[ \t]*include[ \t]*<spin\/[a-z]+\.h>/ {
    match(code, /<spin\/[a-z]+\.h>/); h = substr(code, RSTART + 6, RLENGTH - 7); it = pub(h)
    if (it == "") bad("unknown public header <spin/" h ">")
    else if (!may_use(layer, it)) bad(layer " includes <spin/" h "> of layer " it)
}
layer == "nn" && (code ~ /->(compute|transport)(->|\()/ || code ~ /compute_state/) {
    bad("nn calls a plugin op directly: " code)
}
layer != "launch" && rel != "runtime/loader.c" {
    gsub(/"([^"\\]|\\.)*"/, "\"\"", code)
    if (code ~ /(^|[^a-z_0-9.>])(socket|bind|listen|accept|accept4|connect|fopen|open|openat|creat|mkdtemp|mkstemp|mkdir|opendir|tmpfile)[ \t]*\(/)
        bad("opens a socket, file or directory below apps (only launch/ may): " code)
}
END { exit nbad ? 1 : 0 }
' $files
