# spin_verbs.m4 - libibverbs (rdma plugin).
AC_DEFUN([SPIN_CHECK_VERBS], [
SPIN_DEP_CHECK([VERBS], [verbs], [libibverbs], [infiniband/verbs.h], [-libverbs],
  [ibv_get_device_list], [libibverbs for the rdma transport plugin])
])
