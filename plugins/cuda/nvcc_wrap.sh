#!/bin/sh
# nvcc_wrap.sh - run nvcc under `libtool --mode=compile`.
#
#   nvcc_wrap.sh NVCC [options] -c FILE.cu -o OUT
#
# libtool adds the options it would give the C compiler for a shared object
# (-fPIC -DPIC) and its own -o; nvcc needs host-compiler options wrapped in
# -Xcompiler.  Options meant for the host compiler (-f*, -pthread) are
# wrapped, everything else (nvcc options, -I, -D, -o, -c, -O, -g) passes as
# is.  Exit status: nvcc's.
set -eu
if [ $# -lt 1 ]; then
    echo "nvcc_wrap.sh: usage: nvcc_wrap.sh NVCC [options] -c FILE.cu -o OUT" >&2
    exit 2
fi
nvcc=$1
shift
n=$#
i=0
while [ $i -lt $n ]; do
    a=$1
    shift
    i=$((i + 1))
    case $a in
        -fPIC|-fpic|-fvisibility=*|-fno-common|-fstack-protector*|-pthread)
            set -- "$@" -Xcompiler "$a" ;;
        *)
            set -- "$@" "$a" ;;
    esac
done
exec "$nvcc" "$@"
