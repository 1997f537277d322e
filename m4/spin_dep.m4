# spin_dep.m4 - the shared logic behind every --with-PKG option.
#
# SPIN_DEP_CHECK(VAR, OPTION, PKGMODULE, HEADER, LIBS, FUNCTION, HELP)
#   --with-OPTION=no|yes|DIR.  Default "check": use the dependency if found.
#   DIR adds DIR/include and DIR/lib (or lib64).  Otherwise pkg-config's
#   PKGMODULE (if non-empty and known) supplies the flags.  The header and a
#   link test of FUNCTION with LIBS decide.  Sets:
#     have_VAR=yes|no, VAR_CFLAGS, VAR_LIBS (AC_SUBST), spin_why_VAR
#   An explicit yes or DIR that cannot be met stops configure.
AC_DEFUN([SPIN_DEP_CHECK], [
AC_ARG_WITH([$2],
  [AS_HELP_STRING([--with-$2=no|yes|DIR], [$7 (default: use if found)])],
  [spin_want_$1=$withval], [spin_want_$1=check])
have_$1=no
spin_why_$1=""
$1_CFLAGS=""
$1_LIBS=""
AS_CASE([$spin_want_$1],
  [no], [spin_why_$1="disabled by --with-$2=no"],
  [yes|check], [
    m4_ifval([$3], [
      AS_IF([test -n "$PKG_CONFIG" && $PKG_CONFIG --exists $3 2>/dev/null], [
        $1_CFLAGS=`$PKG_CONFIG --cflags $3`
        $1_LIBS=`$PKG_CONFIG --libs $3`
      ], [$1_LIBS="$5"])
    ], [$1_LIBS="$5"])
  ],
  [
    $1_CFLAGS="-I$spin_want_$1/include"
    $1_LIBS="-L$spin_want_$1/lib -L$spin_want_$1/lib64 $5"
    spin_want_$1=yes
  ])
AS_IF([test "x$spin_want_$1" != xno], [
  spin_save_CPPFLAGS=$CPPFLAGS
  spin_save_LIBS=$LIBS
  CPPFLAGS="$CPPFLAGS $$1_CFLAGS"
  LIBS="$$1_LIBS $LIBS"
  AC_MSG_CHECKING([for $4 ($2)])
  AC_PREPROC_IFELSE([AC_LANG_SOURCE([[#include <$4>]])],
    [AC_MSG_RESULT([yes])
     AC_MSG_CHECKING([for $6 in $$1_LIBS])
     AC_LINK_IFELSE([AC_LANG_CALL([], [$6])],
       [AC_MSG_RESULT([yes]); have_$1=yes],
       [AC_MSG_RESULT([no]); spin_why_$1="cannot link $6 with $$1_LIBS"])],
    [AC_MSG_RESULT([no]); spin_why_$1="header $4 not found"])
  CPPFLAGS=$spin_save_CPPFLAGS
  LIBS=$spin_save_LIBS
  AS_IF([test "x$have_$1" = xno && test "x$spin_want_$1" = xyes],
    [AC_MSG_ERROR([--with-$2 was requested but $spin_why_$1; install the Debian package named in README.md or pass --with-$2=DIR])])
])
AS_IF([test "x$have_$1" = xno], [$1_CFLAGS=""; $1_LIBS=""])
AC_SUBST([$1_CFLAGS])
AC_SUBST([$1_LIBS])
])
