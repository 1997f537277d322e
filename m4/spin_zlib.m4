# spin_zlib.m4 - zlib (gzopen/gzread: the gzipped IDX files of the datasets,
# read by apps/idx.c for spin-train and spin-infer).
AC_DEFUN([SPIN_CHECK_ZLIB], [
SPIN_DEP_CHECK([ZLIB], [zlib], [zlib], [zlib.h], [-lz],
  [gzdopen], [zlib for the gzipped datasets of spin-train and spin-infer])
])
