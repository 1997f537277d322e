/* log.c - per-runtime logging; no global logger. */
#include "config.h"

#include <spin/log.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int spin_log_level_parse(const char *s)
{
    if (!s || !*s) return -1;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0) return i;
    if (strcasecmp(s, "warning") == 0) return SPIN_LOG_WARN;
    if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0') return s[0] - '0';
    return -1;
}

void spin_vlog(const spin_logger_t *lg, spin_log_level_t level,
               const char *fmt, va_list ap)
{
    spin_log_level_t max = lg ? lg->level : SPIN_LOG_WARN;
    if ((int)level > (int)max) return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && msg[len - 1] == '\n') msg[--len] = '\0';
    if (lg && lg->sink) {
        lg->sink(lg->user, level, msg);
        return;
    }
    const char *lv = (unsigned)level < 4 ? level_names[level] : "log";
    /* One fprintf per line so lines of concurrent parties do not interleave. */
    if (lg && lg->prefix && lg->prefix[0])
        fprintf(stderr, "spin[%s] %s: %s\n", lg->prefix, lv, msg);
    else
        fprintf(stderr, "spin %s: %s\n", lv, msg);
}

void spin_log(const spin_logger_t *lg, spin_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spin_vlog(lg, level, fmt, ap);
    va_end(ap);
}
