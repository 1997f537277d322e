# spin_zmq.m4 - ZeroMQ (tcp plugin, spin-keygen).
AC_DEFUN([SPIN_CHECK_ZMQ], [
SPIN_DEP_CHECK([ZMQ], [zmq], [libzmq], [zmq.h], [-lzmq],
  [zmq_curve_keypair], [ZeroMQ for the tcp transport plugin])
])
