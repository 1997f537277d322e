#!/bin/sh
# fuzz.sh - build the libFuzzer harnesses of tests/fuzz/ (README.md there)
# with clang, AddressSanitizer and UBSan in build-fuzz/, replay every saved
# regression input once, then run each harness for SECONDS on a copy of its
# seed corpus.  Fails (exit 1) on any crash, leak, timeout or out-of-memory,
# printing the reproducer's path and the top of the report.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   (default: 60 s, every harness)
# Environment: FUZZ_JOBS (harnesses run at a time, default 2), FUZZ_CC (clang).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
secs=60
case ${1:-} in
    ''|*[!0-9]*) ;;
    *) secs=$1; shift ;;
esac
all="idx safetensors json ckpt dealer_req hello sock_rx tcp_rx"
list=${*:-$all}
for h in $list; do
    case " $all " in *" $h "*) ;; *) echo "fuzz.sh: no harness $h (harnesses: $all)" >&2; exit 2 ;; esac
done
jobs=${FUZZ_JOBS:-2}
cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null 2>&1 || { echo "fuzz.sh: $cc not found: install clang and libclang-rt-14-dev (scripts/deps.sh)" >&2; exit 2; }

B=$here/build-fuzz
S=$here
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
cflags="-O1 -g -fno-omit-frame-pointer $san"
mkdir -p "$B"
cd "$here"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi

# 1. libspin, the transport kit and libspinapp, static, instrumented.
stamp="$cc $cflags"
if [ ! -f "$B/config.status" ] || [ "$(cat "$B/.fuzz-flags" 2>/dev/null)" != "$stamp" ] ||
   [ "$B/config.status" -ot configure ]; then
    echo "fuzz.sh: configuring build-fuzz/ ($cc, ASan + UBSan + libFuzzer coverage)"
    (cd "$B" && "$S/configure" -q CC="$cc" CFLAGS="$cflags" LDFLAGS="-fsanitize=address,undefined" \
        --disable-shared --enable-static --with-cuda=no --with-verbs=no >configure.log 2>&1) ||
        { tail -n 40 "$B/configure.log"; echo "fuzz.sh: configure failed (build-fuzz/config.log)" >&2; exit 1; }
    echo "$stamp" >"$B/.fuzz-flags"
fi
echo "fuzz.sh: building libspin, the transport kit and libspinapp in build-fuzz/"
(make -C "$B/core" -j"$jobs" V=0 libspin.la &&
 make -C "$B/plugins/kit" -j"$jobs" V=0 libspin_tkit.la &&
 make -C "$B/apps" -j"$jobs" V=0 libspinapp.la) >"$B/build.log" 2>&1 ||
    { grep -E 'error|Error' "$B/build.log" | head -n 30; echo "fuzz.sh: build failed (build-fuzz/build.log)" >&2; exit 1; }

# 2. The harnesses: each its file, the sources it needs that are not in a
#    library (or whose static functions it calls), then the libraries.
inc="-I$B -I$S/core/include -I$S/core -I$S/apps/lib -I$S/apps/train -I$S/plugins/kit -I$S/tests/fuzz"
spin="$B/core/.libs/libspin.a"
app="$B/apps/.libs/libspinapp.a"
kit="$B/plugins/kit/.libs/libspin_tkit.a"
sys="-lz -lm -ldl -pthread"
zmq=$(pkg-config --libs libzmq 2>/dev/null || echo -lzmq)
zmqc=$(pkg-config --cflags libzmq 2>/dev/null || true)
parts() {
    case $1 in
        idx|safetensors|json) echo "$app $spin" ;;
        ckpt) echo "$S/apps/train/train_io.c $app $spin" ;;
        dealer_req) echo "$spin" ;;
        hello) echo "$kit $spin" ;;
        sock_rx) echo "-I$S/plugins/sock $S/plugins/sock/sock_rx.c $S/plugins/sock/sock_io.c $kit $spin" ;;
        tcp_rx) echo "-I$S/plugins/tcp $zmqc $S/plugins/tcp/tcp_comm.c $S/plugins/tcp/tcp_plugin.c $S/plugins/tcp/tcp_keys.c $kit $spin $zmq" ;;
    esac
}
mkdir -p "$B/tests/fuzz"
for h in $list; do
    bin=$B/tests/fuzz/fuzz_$h
    srcs="$S/tests/fuzz/fuzz_$h.c $S/tests/fuzz/fuzz_common.h $(parts "$h" | tr ' ' '\n' | grep -v '^-' | tr '\n' ' ')"
    [ "$h" = tcp_rx ] && srcs="$srcs $S/plugins/tcp/tcp_io.c"
    fresh=1
    [ -x "$bin" ] || fresh=0
    for f in $srcs; do
        case $f in *.c|*.h|*.a) [ "$f" -nt "$bin" ] && fresh=0 ;; esac
    done
    [ $fresh -eq 1 ] && continue
    # shellcheck disable=SC2046
    if ! "$cc" -std=c11 -D_GNU_SOURCE -DHAVE_CONFIG_H -Wall -Wextra $cflags -fsanitize=fuzzer $inc \
            -o "$bin" "$S/tests/fuzz/fuzz_$h.c" $(parts "$h") $sys >"$B/tests/fuzz/fuzz_$h.build.log" 2>&1; then
        cat "$B/tests/fuzz/fuzz_$h.build.log" | head -n 40
        echo "fuzz.sh: building harness $h failed (a source mid-edit? retry in a minute)" >&2
        exit 1
    fi
done

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$S/tests/lsan.supp"
fflags="-timeout=10 -rss_limit_mb=2048 -detect_leaks=1"
failed=0
R=$B/fuzz-run
mkdir -p "$R/tmp"

# The top of a failure report: the reason and the first frames.
report() {
    grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|==fuzz==|ALARM|out-of-memory|#[0-9]+ 0x' "$1" |
        grep -v -E 'in fuzzer::|in __sanitizer|in __asan|in __ubsan|in __interceptor|libc\.so|in (abort|raise|__pthread_kill_implementation|_start|main|__libc_start_call_main|__libc_start_main) ' |
        head -n 12 | sed 's/^/    /'
}

# 3. Every saved regression input, once.
for h in $list; do
    d=$S/tests/fuzz/regress/$h
    [ -d "$d" ] || continue
    for f in "$d"/*; do
        [ -f "$f" ] || continue
        case $f in *.md|*.txt) continue ;; esac
        log=$R/regress-$h-$(basename "$f").log
        if (cd "$R" && TMPDIR="$R/tmp" "$B/tests/fuzz/fuzz_$h" $fflags -artifact_prefix="$R/regress-" "$f" >"$log" 2>&1); then
            echo "fuzz.sh: regress $h/$(basename "$f"): ok"
        else
            failed=1
            echo "fuzz.sh: regress $h/$(basename "$f"): FAILED (reproduce: $B/tests/fuzz/fuzz_$h $f; log $log)"
            report "$log"
        fi
    done
done

# 4. Fuzz each harness for $secs s on a copy of its corpus, $jobs at a time.
run_one() {
    h=$1
    w=$R/$h
    rm -rf "$w"
    mkdir -p "$w/corpus" "$w/artifacts" "$w/tmp"
    [ -d "$S/tests/fuzz/corpus/$h" ] && cp "$S/tests/fuzz/corpus/$h"/* "$w/corpus/" 2>/dev/null || true
    rc=0
    (cd "$w" && TMPDIR="$w/tmp" "$B/tests/fuzz/fuzz_$h" $fflags -max_total_time="$secs" \
        -print_final_stats=1 -artifact_prefix="$w/artifacts/" corpus >"$w/log" 2>&1) || rc=$?
    echo $rc >"$w/rc"
}
set -- $list
while [ $# -gt 0 ]; do
    batch=
    i=0
    while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
        run_one "$1" &
        batch="$batch $1"
        shift
        i=$((i + 1))
    done
    wait
    for h in $batch; do
        w=$R/$h
        rc=$(cat "$w/rc" 2>/dev/null || echo 1)
        eps=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$w/log" | tail -n 1)
        runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$w/log" | tail -n 1)
        corp=$(grep -o 'corp: [0-9]*' "$w/log" | tail -n 1 | sed 's/corp: //')
        [ -n "$corp" ] || corp=$(ls "$w/corpus" | wc -l)
        if [ "$rc" -eq 0 ]; then
            echo "fuzz.sh: $h: ok, ${secs} s, ${eps:-?} exec/s, ${runs:-?} runs, corpus ${corp} entries"
        else
            failed=1
            art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$w/log" | tail -n 1)
            kind=$(grep -o -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-z-]+|runtime error|==fuzz== check failed|timeout after|out-of-memory' "$w/log" || echo "exit $rc")
            echo "fuzz.sh: $h: FAILED ($kind), ${eps:-?} exec/s, ${runs:-?} runs, corpus ${corp} entries"
            echo "    reproducer: ${art:-none written} (replay: $B/tests/fuzz/fuzz_$h ${art:-INPUT}; log $w/log)"
            report "$w/log"
        fi
    done
done
[ $failed -eq 0 ] && { echo "fuzz.sh: every harness ran clean"; exit 0; }
echo "fuzz.sh: failures above; save a crashing input in tests/fuzz/regress/HARNESS/ (tests/fuzz/README.md)" >&2
exit 1
