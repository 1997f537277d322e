# spin_cuda.m4 - CUDA toolkit (cuda plugin): nvcc, cudart, cuBLAS, stub libcuda.
# --with-cuda=no|yes|DIR; DIR defaults to $CUDA_HOME or /usr/local/cuda.
# --with-cuda-gencode=FLAGS: nvcc -gencode flags (default: sm_80 and sm_90
#   machine code plus compute_90 PTX, which newer GPUs compile at load time).
# Sets have_CUDA, CUDA_CFLAGS, CUDA_LIBS (what the plugin links: cuBLAS and
# cudart, never libcuda), CUDA_LIBDIR (run-time path of those), CUDA_STUBDIR,
# NVCC, SPIN_NVCCFLAGS, spin_why_CUDA; defines SPIN_CUDA_ARCHS (text).
#
# The link test also links the toolkit's stub libcuda (cuInit), so a toolkit
# without a driver is enough to build.  The plugin itself does not link
# libcuda: the CUDA runtime loads the driver (libcuda.so.1) at run time, so
# the plugin also loads where there is no driver and reports why it is
# unavailable.  Uses $enable_werror (set before this macro runs).
AC_DEFUN([SPIN_CHECK_CUDA], [
AC_ARG_WITH([cuda],
  [AS_HELP_STRING([--with-cuda=no|yes|DIR], [CUDA toolkit for the cuda plugin (default: use if found)])],
  [spin_want_CUDA=$withval], [spin_want_CUDA=check])
AC_ARG_WITH([cuda-gencode],
  [AS_HELP_STRING([--with-cuda-gencode=FLAGS], [nvcc -gencode flags for the cuda plugin (default: sm_80, sm_90, compute_90 PTX)])],
  [spin_cuda_gencode=$withval],
  [spin_cuda_gencode="-gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90"])
AC_ARG_VAR([NVCCFLAGS], [extra flags for nvcc (cuda plugin kernels)])
have_CUDA=no
spin_why_CUDA=""
CUDA_CFLAGS=""
CUDA_LIBS=""
CUDA_LIBDIR=""
SPIN_NVCCFLAGS=""
NVCC=""
AS_CASE([$spin_want_CUDA],
  [no], [spin_why_CUDA="disabled by --with-cuda=no"],
  [yes|check], [spin_cuda_dir=${CUDA_HOME:-/usr/local/cuda}],
  [spin_cuda_dir=$spin_want_CUDA; spin_want_CUDA=yes])
AS_IF([test "x$spin_want_CUDA" != xno], [
  AC_PATH_PROG([NVCC], [nvcc], [], [$spin_cuda_dir/bin$PATH_SEPARATOR$PATH])
  spin_save_CPPFLAGS=$CPPFLAGS
  spin_save_LIBS=$LIBS
  AS_IF([test -d "$spin_cuda_dir/lib64"], [CUDA_LIBDIR="$spin_cuda_dir/lib64"],
        [CUDA_LIBDIR="$spin_cuda_dir/lib"])
  CUDA_CFLAGS="-I$spin_cuda_dir/include"
  CUDA_STUBDIR="$CUDA_LIBDIR/stubs"
  CUDA_LIBS="-L$CUDA_LIBDIR -lcublas -lcudart"
  CPPFLAGS="$CPPFLAGS $CUDA_CFLAGS"
  LIBS="$CUDA_LIBS -L$CUDA_STUBDIR -lcuda $LIBS"
  AS_IF([test -z "$NVCC"], [spin_why_CUDA="nvcc not found in $spin_cuda_dir/bin or PATH"], [
    AC_MSG_CHECKING([for cuda_runtime.h and cuBLAS in $spin_cuda_dir])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <cuda.h>]], [[int n; cublasHandle_t h; cudaGetDeviceCount(&n); cublasCreate(&h); cuInit(0);]])],
      [AC_MSG_RESULT([yes]); have_CUDA=yes],
      [AC_MSG_RESULT([no]); spin_why_CUDA="cannot compile and link against cudart, cuBLAS and the stub libcuda in $spin_cuda_dir"])
  ])
  CPPFLAGS=$spin_save_CPPFLAGS
  LIBS=$spin_save_LIBS
  AS_IF([test "x$have_CUDA" = xyes], [
    AC_MSG_CHECKING([whether nvcc compiles kernels for $spin_cuda_gencode])
    cat > conftest.cu <<_SPIN_EOF
__global__ void spin_k(int *p) { p[[threadIdx.x]] += 1; }
int main(void) { spin_k<<<1, 1>>>(0); return 0; }
_SPIN_EOF
    AS_IF([$NVCC -std=c++17 $spin_cuda_gencode -c conftest.cu -o conftest.$OBJEXT >&AS_MESSAGE_LOG_FD 2>&1],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no]); have_CUDA=no
       spin_why_CUDA="$NVCC cannot compile kernels for $spin_cuda_gencode (see config.log; --with-cuda-gencode)"])
    rm -f conftest.cu conftest.$OBJEXT
  ])
  AS_IF([test "x$have_CUDA" = xno && test "x$spin_want_CUDA" = xyes],
    [AC_MSG_ERROR([--with-cuda was requested but $spin_why_CUDA; pass --with-cuda=DIR pointing at the toolkit])])
])
spin_cuda_archs=""
AS_IF([test "x$have_CUDA" = xno], [CUDA_CFLAGS=""; CUDA_LIBS=""; CUDA_LIBDIR=""], [
  # nvcc flags of the kernels: host code hidden and warning-free like the C.
  # Single-token options only: libtool reorders "-Xcompiler ARG" pairs.
  SPIN_NVCCFLAGS="-std=c++17 -O3 $spin_cuda_gencode --compiler-options=-Wall,-Wextra"
  AS_IF([test "x$enable_werror" = xyes],
    [SPIN_NVCCFLAGS="$SPIN_NVCCFLAGS --Werror=all-warnings --compiler-options=-Werror"])
  for spin_g in $spin_cuda_gencode; do
    spin_c=`echo "$spin_g" | sed -n 's/.*code=//p'`
    AS_CASE([$spin_c], [compute_*], [spin_c="$spin_c PTX"])
    spin_cuda_archs="${spin_cuda_archs:+$spin_cuda_archs, }$spin_c"
  done
])
AC_DEFINE_UNQUOTED([SPIN_CUDA_ARCHS], ["$spin_cuda_archs"],
  [GPU architectures the cuda plugin's kernels are built for])
AC_SUBST([CUDA_CFLAGS])
AC_SUBST([CUDA_LIBS])
AC_SUBST([CUDA_LIBDIR])
AC_SUBST([CUDA_STUBDIR])
AC_SUBST([NVCC])
AC_SUBST([SPIN_NVCCFLAGS])
])
