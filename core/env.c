/* env.c - the one table of environment variables Spin reads.
 * Every variable read anywhere in Spin (core or bundled plugins) is listed
 * here with its help text; spin-info prints this table. */
#include "config.h"

#include <spin/spin.h>

static const spin_env_var_t env_table[] = {
    {"SPIN_BACKEND", NULL,
     "Backends to use, comma-separated, e.g. \"cpu,tcp\". Per kind the named "
     "plugins are tried in order and the first that initialises is used; none "
     "working is a hard error. \"^name\" excludes a plugin from auto-selection. "
     "Unset: auto-select (one info line names the choice)."},
    {"SPIN_PLUGIN_PATH", NULL,
     "Colon-separated directories searched for plugins (spin_*.so) before the "
     "installed plugin directory."},
    {"SPIN_LOG_LEVEL", "info", "Log verbosity: error, warn, info or debug."},
    {"SPIN_TIMEOUT", "60",
     "Seconds a peer may stay silent before the transport reports an error "
     "naming it (tcp, sock and rdma plugins)."},
    {"SPIN_PARTY", NULL,
     "This process's party id (0..N-1; N is the dealer). spin-run sets it; "
     "otherwise SLURM_PROCID, OMPI_COMM_WORLD_RANK or PMI_RANK is used."},
    {"SPIN_NPARTIES", NULL,
     "Number of computing parties N (the dealer is extra). Default: lines "
     "of the peers file minus one."},
    {"SPIN_PEERS_FILE", NULL,
     "File with one endpoint per line (tcp://HOST:PORT or ipc://PATH) for "
     "parties 0..N-1, then the dealer. spin-run writes one."},
    {"SPIN_FRAC_BITS", "16",
     "Fixed-point fractional bits f (1..30); every party must use the same."},
    {"SPIN_KEY_DIR", NULL,
     "Directory of CurveZMQ key files (spin-keygen): when set, every link is "
     "authenticated and encrypted and unknown keys are refused."},
    {"SPIN_DEALER_PREFETCH_MB", "256",
     "Memory the dealer may fill with corrections prepared ahead of the "
     "parties' requests (predicted from the repeating sequence of shapes); "
     "0 turns run-ahead off."},
    {"SPIN_RDMA_DEVICE", NULL,
     "RDMA device for the rdma plugin, NAME or NAME:PORT (default: the first "
     "active port)."},
    {"SPIN_RDMA_GID_INDEX", "auto", "RoCE GID index for the rdma plugin."},
    {"SPIN_RDMA_CHUNK", "256K", "Size of one rdma message piece (ring slot)."},
    {"SPIN_RDMA_SLOTS", "16", "Receive-ring slots per peer (credits) in the rdma plugin."},
    {"SPIN_RDMA_REG_CACHE", "auto",
     "Send straight from registered user buffers: auto (only with on-demand "
     "paging, where a freed and reused address cannot send stale data), on, off."},
    {"SLURM_PROCID", NULL, "Party id under srun, if SPIN_PARTY is unset."},
    {"OMPI_COMM_WORLD_RANK", NULL, "Party id under Open MPI's mpirun, if SPIN_PARTY is unset."},
    {"PMI_RANK", NULL, "Party id under MPICH/Hydra, if SPIN_PARTY is unset."},
    {"SPIN_CPU_GEMM", "auto",
     "Ring GEMM kernel of the cpu plugin: auto (best the CPU supports), "
     "avx512, avx2 or generic (portable C)."},
    {"OMP_NUM_THREADS", NULL,
     "Threads used by the cpu plugin's kernels (OpenMP); default: all cores."},
};

const spin_env_var_t *spin_env_vars(size_t *n)
{
    if (n) *n = sizeof env_table / sizeof env_table[0];
    return env_table;
}
