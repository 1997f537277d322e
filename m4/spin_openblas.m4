# spin_openblas.m4 - OpenBLAS (float64 GEMM for the CPU plugin).
AC_DEFUN([SPIN_CHECK_OPENBLAS], [
SPIN_DEP_CHECK([OPENBLAS], [openblas], [openblas], [cblas.h], [-lopenblas],
  [cblas_dgemm], [OpenBLAS for float64 work in the cpu plugin])
])
