/* testutil.c - see testutil.h. */
#include "config.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *tu_why_not_built(const char *name)
{
    if (strcmp(name, "cpu") == 0) return SPIN_WHY_NOT_CPU;
    if (strcmp(name, "tcp") == 0) return SPIN_WHY_NOT_TCP;
    if (strcmp(name, "cuda") == 0) return SPIN_WHY_NOT_CUDA;
    if (strcmp(name, "rdma") == 0) return SPIN_WHY_NOT_RDMA;
    return "";
}

int tu_runtime_try(const char *name, int kind, spin_runtime_t **rt,
                   spin_backend_t *be)
{
    spin_runtime_opts_t o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.backend = name;
    o.no_default_path = 1;
    int rc = spin_runtime_open(&o, rt);
    if (rc != 0) return rc;
    rc = kind == SPIN_PLUGIN_COMPUTE ? spin_runtime_compute(*rt, be)
                                     : spin_runtime_transport(*rt, be);
    if (rc != 0) {
        spin_runtime_close(*rt);
        *rt = NULL;
    }
    return rc;
}

spin_runtime_t *tu_runtime_for(const char *name, int kind, spin_backend_t *be)
{
    const char *why = tu_why_not_built(name);
    if (why[0] != '\0') {
        printf("SKIP: the %s plugin was not built: %s\n", name, why);
        exit(TU_SKIP);
    }
    spin_runtime_t *rt = NULL;
    int rc = tu_runtime_try(name, kind, &rt, be);
    if (rc == SPIN_ERR_UNAVAILABLE) {
        printf("SKIP: the %s plugin is unavailable on this machine (see the log line above)\n", name);
        exit(TU_SKIP);
    }
    if (rc != 0) {
        fprintf(stderr, "FAIL: cannot use the %s plugin: %s\n", name, spin_strerror(rc));
        exit(1);
    }
    return rt;
}

uint64_t tu_rand64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

char *tu_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t len = strlen(base) + strlen(tag) + 32;
    char *p = malloc(len);
    if (!p) return NULL;
    snprintf(p, len, "%s/spin-%s-XXXXXX", base, tag);
    if (!mkdtemp(p)) { free(p); return NULL; }
    return p;
}

void tu_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}
