# spin_cuda.m4 - CUDA toolkit (cuda plugin): nvcc, cudart, cuBLAS, stub libcuda.
# --with-cuda=no|yes|DIR; DIR defaults to $CUDA_HOME or /usr/local/cuda.
# Sets have_CUDA, CUDA_CFLAGS, CUDA_LIBS, NVCC, CUDA_STUBDIR, spin_why_CUDA.
AC_DEFUN([SPIN_CHECK_CUDA], [
AC_ARG_WITH([cuda],
  [AS_HELP_STRING([--with-cuda=no|yes|DIR], [CUDA toolkit for the cuda plugin (default: use if found)])],
  [spin_want_CUDA=$withval], [spin_want_CUDA=check])
have_CUDA=no
spin_why_CUDA=""
CUDA_CFLAGS=""
CUDA_LIBS=""
NVCC=""
AS_CASE([$spin_want_CUDA],
  [no], [spin_why_CUDA="disabled by --with-cuda=no"],
  [yes|check], [spin_cuda_dir=${CUDA_HOME:-/usr/local/cuda}],
  [spin_cuda_dir=$spin_want_CUDA; spin_want_CUDA=yes])
AS_IF([test "x$spin_want_CUDA" != xno], [
  AC_PATH_PROG([NVCC], [nvcc], [], [$spin_cuda_dir/bin$PATH_SEPARATOR$PATH])
  spin_save_CPPFLAGS=$CPPFLAGS
  spin_save_LIBS=$LIBS
  CUDA_CFLAGS="-I$spin_cuda_dir/include"
  CUDA_STUBDIR="$spin_cuda_dir/lib64/stubs"
  CUDA_LIBS="-L$spin_cuda_dir/lib64 -L$CUDA_STUBDIR -lcublas -lcudart -lcuda"
  CPPFLAGS="$CPPFLAGS $CUDA_CFLAGS"
  LIBS="$CUDA_LIBS $LIBS"
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
  AS_IF([test "x$have_CUDA" = xno && test "x$spin_want_CUDA" = xyes],
    [AC_MSG_ERROR([--with-cuda was requested but $spin_why_CUDA; pass --with-cuda=DIR pointing at the toolkit])])
])
AS_IF([test "x$have_CUDA" = xno], [CUDA_CFLAGS=""; CUDA_LIBS=""])
AC_SUBST([CUDA_CFLAGS])
AC_SUBST([CUDA_LIBS])
AC_SUBST([CUDA_STUBDIR])
AC_SUBST([NVCC])
])
