# spin_openssl.m4 - OpenSSL libcrypto (AES-128-CTR through EVP, AES-NI).
AC_DEFUN([SPIN_CHECK_OPENSSL], [
SPIN_DEP_CHECK([OPENSSL], [openssl], [libcrypto], [openssl/evp.h], [-lcrypto],
  [EVP_EncryptInit_ex], [OpenSSL libcrypto for the AES-CTR PRG])
])
