/*
 * spin/errors.h - status codes.  Every Spin function returns 0 (SPIN_OK) or
 * one of these negative codes.  Codes are API: never renumber one.
 */
#ifndef SPIN_ERRORS_H
#define SPIN_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libspin exports (everything else is hidden). */
#if defined(__GNUC__)
#define SPIN_API __attribute__((visibility("default")))
#else
#define SPIN_API
#endif

enum {
    SPIN_OK = 0,
    SPIN_ERR_INVAL = -1,        /**< invalid argument */
    SPIN_ERR_NOMEM = -2,        /**< out of memory */
    SPIN_ERR_UNAVAILABLE = -3,  /**< no such device / driver / plugin here */
    SPIN_ERR_IO = -4,           /**< system or network I/O failure */
    SPIN_ERR_TIMEOUT = -5,      /**< a peer stayed silent past the timeout */
    SPIN_ERR_PROTOCOL = -6,     /**< peer out of step: tag, length, sequence */
    SPIN_ERR_ABI = -7,          /**< plugin ABI mismatch or malformed plugin */
    SPIN_ERR_NOTSUP = -8,       /**< operation not supported by this backend */
    SPIN_ERR_PEER = -9,         /**< a peer disconnected or failed */
    SPIN_ERR_AUTH = -10,        /**< authentication failed / unknown key */
    SPIN_ERR_RANGE = -11,       /**< value outside the documented range */
    SPIN_ERR_CONFIG = -12,      /**< configuration mismatch or bad setting */
    SPIN_ERR_INTERNAL = -13     /**< a bug in Spin or a plugin */
};

/** Short, static description of a status code ("invalid argument"). */
SPIN_API const char *spin_strerror(int status);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_ERRORS_H */
