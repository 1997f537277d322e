/* testutil.h - helpers shared by the test programs (not installed). */
#ifndef SPIN_TESTUTIL_H
#define SPIN_TESTUTIL_H

#include <stdint.h>
#include <spin/spin.h>

/* Exit status automake reads as SKIP. */
#define TU_SKIP 77

/* Open a runtime that selects plugin `name` for `kind` (SPIN_PLUGIN_COMPUTE
 * or SPIN_PLUGIN_TRANSPORT), searching only SPIN_PLUGIN_PATH (the build
 * tree).  If the plugin was not built, or its init reports
 * SPIN_ERR_UNAVAILABLE (no device here), print the reason and exit(77).  Any
 * other failure prints the error and exits 1.  *be receives the backend. */
spin_runtime_t *tu_runtime_for(const char *name, int kind, spin_backend_t *be);

/* Same, but returns the status instead of exiting (for threads). */
int tu_runtime_try(const char *name, int kind, spin_runtime_t **rt,
                   spin_backend_t *be);

/* Why configure did not build a known plugin ("" if it did). */
const char *tu_why_not_built(const char *name);

/* Deterministic test data: splitmix64. */
uint64_t tu_rand64(uint64_t *state);

/* A fresh private directory under $TMPDIR (or /tmp); caller frees. */
char *tu_tmpdir(const char *tag);
/* rm -r of a directory made by tu_tmpdir (one level of files). */
void tu_rmdir(const char *dir);

#endif
