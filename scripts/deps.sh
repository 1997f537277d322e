#!/bin/sh
# deps.sh - install the Debian 12 packages Spin needs to build and test.
# Runs apt-get as root (directly, or through sudo when not root).
set -eu
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential autoconf automake libtool pkgconf \
    check libzmq3-dev libopenblas-dev libssl-dev libibverbs-dev zlib1g-dev \
    valgrind iproute2 dataset-fashion-mnist clang libclang-rt-14-dev >/dev/null
echo "deps.sh: build and test dependencies installed"
