/* loader.h - finding, loading and checking plugin files (internal).
 * One file does all dlopen work: loader.c.  Messages it logs are listed in
 * docs/PLUGINS.md ("Load errors") and asserted by tests/test_loader.c. */
#ifndef SPIN_LOADER_H
#define SPIN_LOADER_H

#include <spin/spin.h>

#define SPIN_WHY_LEN 512

typedef struct spin_plugin_rec {
    spin_plugin_info_t info;         /* public view; strings point below */
    char *path;
    char name[64];
    char why[SPIN_WHY_LEN];
    void *dl;                        /* dlopen handle, NULL if rejected */
    const spin_plugin_desc_t *desc;  /* NULL if rejected */
    /* The ops table as this core sees it: the plugin's, with any slots its
     * (older) ABI does not have set to NULL. */
    union {
        spin_compute_ops_t compute;
        spin_transport_ops_t transport;
    } ops;
    void *state;                     /* non-NULL while initialised */
    /* Transport: endpoint schemes it accepts (ABI 1.2 descriptor field, or
     * "tcp ipc" for an older plugin or a NULL field). */
    const char *schemes;
} spin_plugin_rec_t;

/* Scan every directory of the colon-separated `dirs` (in order) for files
 * spin_*.so, dlopen and validate each.  Never fails because of a bad plugin
 * file: that one is recorded as SPIN_PLUGIN_REJECTED with the reason, and a
 * warning is logged.  A directory that does not exist is skipped (debug). */
int spin_loader_scan(const spin_logger_t *lg, const char *dirs,
                     spin_plugin_rec_t **recs, size_t *n);

/* Initialise one loaded plugin; records the status and reason.  Returns the
 * plugin's status code. */
int spin_loader_init(spin_plugin_rec_t *rec, const spin_plugin_host_t *host);

/* Finalise (if initialised) and unload every plugin; frees the array. */
void spin_loader_release(spin_plugin_rec_t *recs, size_t n);

#endif
