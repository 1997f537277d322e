/*
 * spin/log.h - logging.  There is no global logger: each Spin runtime owns
 * one, and hands a pointer to it to every plugin instance it creates.
 */
#ifndef SPIN_LOG_H
#define SPIN_LOG_H

#include <stdarg.h>

#include <spin/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spin_log_level {
    SPIN_LOG_ERROR = 0,
    SPIN_LOG_WARN = 1,
    SPIN_LOG_INFO = 2,
    SPIN_LOG_DEBUG = 3
} spin_log_level_t;

/** Where log lines go.  sink == NULL writes "spin[<prefix>] <level>: <msg>"
 *  to stderr.  Lines above level are dropped. */
typedef struct spin_logger {
    spin_log_level_t level;
    const char *prefix;          /**< e.g. "p0"; may be NULL */
    void (*sink)(void *user, spin_log_level_t level, const char *msg);
    void *user;
} spin_logger_t;

/** Log one line (no trailing newline needed).  lg may be NULL: stderr at
 *  level WARN.  Safe to call from several threads with different loggers. */
SPIN_API void spin_log(const spin_logger_t *lg, spin_log_level_t level,
              const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
SPIN_API void spin_vlog(const spin_logger_t *lg, spin_log_level_t level,
               const char *fmt, va_list ap);

/** Parse "error|warn|info|debug" (or 0-3); returns -1 if unknown. */
SPIN_API int spin_log_level_parse(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* SPIN_LOG_H */
