/* spin-info - what Spin finds on this machine: plugins found, loaded, failed
 * (with reasons), their capabilities, the backends SPIN_BACKEND selects, and
 * every environment variable with its help text. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/spin.h>

static const char *kind_name(int k)
{
    return k == SPIN_PLUGIN_COMPUTE ? "compute" : k == SPIN_PLUGIN_TRANSPORT ? "transport" : "?";
}

static const char *status_name(spin_plugin_status_t s)
{
    static const char *const n[] = {"loaded", "ready", "unavailable", "failed", "rejected", "excluded"};
    return (unsigned)s < 6 ? n[s] : "?";
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: spin-info [--env] [--help]\n"
            "Lists the Spin plugins found in SPIN_PLUGIN_PATH and the installed plugin\n"
            "directory, whether each one loads and initialises here (and why not), their\n"
            "capabilities, the backends SPIN_BACKEND selects, and every environment\n"
            "variable Spin reads.\n"
            "  --env   print only the environment variables\n");
}

static void print_env(void)
{
    size_t n;
    const spin_env_var_t *v = spin_env_vars(&n);
    printf("Environment variables:\n");
    for (size_t i = 0; i < n; i++) {
        const char *cur = getenv(v[i].name);
        printf("  %s = %s%s%s\n", v[i].name, cur ? "\"" : "", cur ? cur : "(unset)", cur ? "\"" : "");
        printf("      %s%s%s\n", v[i].help, v[i].default_value ? " Default: " : "",
               v[i].default_value ? v[i].default_value : "");
    }
}

/* Plugins that ship with Spin: if one is missing, say why configure did not
 * build it. */
static const struct { const char *name; const char *kind; const char *why; } bundled[] = {
    {"cpu", "compute", SPIN_WHY_NOT_CPU},
    {"cuda", "compute", SPIN_WHY_NOT_CUDA},
    {"tcp", "transport", SPIN_WHY_NOT_TCP},
    {"rdma", "transport", SPIN_WHY_NOT_RDMA},
};

int main(int argc, char **argv)
{
    int env_only = 0;
    static const struct option longopts[] = {
        {"env", no_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "eh", longopts, NULL)) != -1) {
        if (c == 'e') env_only = 1;
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (optind < argc) {
        fprintf(stderr, "spin-info: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (env_only) {
        print_env();
        return 0;
    }
    printf("Spin %s (plugin ABI %d.%d)\n", spin_version(), SPIN_ABI_MAJOR, SPIN_ABI_MINOR);
    spin_runtime_t *rt = NULL;
    int rc = spin_runtime_open(NULL, &rt);
    if (rc != 0) {
        fprintf(stderr, "spin-info: cannot start the runtime: %s (see the message above)\n",
                spin_strerror(rc));
        return 1;
    }
    printf("Plugin search path: %s\n", spin_runtime_search_path(rt));
    spin_backend_t cb, tb;
    int crc = spin_runtime_compute(rt, &cb);
    int trc = spin_runtime_transport(rt, &tb);
    spin_runtime_probe(rt);
    const spin_plugin_info_t *l;
    size_t n;
    spin_runtime_plugins(rt, &l, &n);
    printf("Plugins:\n");
    printf("  %-10s %-9s %-12s %-8s %-24s %s\n", "NAME", "KIND", "STATUS", "VERSION", "CAPABILITIES", "FILE");
    for (size_t i = 0; i < n; i++) {
        char caps[128] = "-";
        if (l[i].version) spin_caps_string(l[i].kind, l[i].caps, caps, sizeof caps);
        char st[32];
        snprintf(st, sizeof st, "%s%s", status_name(l[i].status), l[i].selected ? "*" : "");
        printf("  %-10s %-9s %-12s %-8s %-24s %s\n", l[i].name, kind_name(l[i].kind), st,
               l[i].version ? l[i].version : "-", caps, l[i].path);
        if (l[i].why && l[i].why[0]) printf("      why: %s\n", l[i].why);
    }
    for (size_t b = 0; b < sizeof bundled / sizeof bundled[0]; b++) {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(l[i].name, bundled[b].name) == 0) found = 1;
        if (found) continue;
        printf("  %-10s %-9s %-12s %-8s %-24s %s\n", bundled[b].name, bundled[b].kind,
               "unavailable", "-", "-", "(no file)");
        printf("      why: %s\n", bundled[b].why[0] ? bundled[b].why
                                                   : "built, but not found in the plugin search path");
    }
    printf("  (* = selected)\n");
    printf("Selected: compute %s, transport %s\n", crc == 0 ? cb.desc->name : "(none)",
           trc == 0 ? tb.desc->name : "(none)");
    if (crc == 0 && trc == 0) {
        /* how openings move device memory (docs/ARCHITECTURE.md, Openings) */
        const spin_transport_ops_t *to = tb.ops;
        if (!(cb.desc->caps & SPIN_CAP_COMPUTE_DEVICE_MEM))
            printf("GPU memory: none (%s memory is host memory)\n", cb.desc->name);
        else if (tb.desc->caps & SPIN_CAP_TRANSPORT_DEVICE_MEM)
            printf("GPU memory: %s takes %s device memory directly\n", tb.desc->name, cb.desc->name);
        else if (to->comm_caps)
            printf("GPU memory: %s decides per communicator whether it takes %s device memory directly "
                   "(GPUDirect RDMA), else the core stages it through host memory%s\n", tb.desc->name,
                   cb.desc->name, strcmp(tb.desc->name, "rdma") == 0 ? ": see rdma's \"GPU memory\" "
                   "line (SPIN_LOG_LEVEL=info) and SPIN_RDMA_GPUDIRECT" : "");
        else
            printf("GPU memory: staged through host memory by the core (%s takes host memory only)\n",
                   tb.desc->name);
    }
    print_env();
    spin_runtime_close(rt);
    return 0;
}
