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
     "naming it; the core reads it and hands it to every transport as its "
     "timeout; fractions are allowed (0.5). A "
     "value that is not a positive number of seconds (\"abc\", \"-3\", \"0\") "
     "is ignored with a warning naming it, and the default is used."},
    {"SPIN_PARTY", NULL,
     "This process's party id (0..N-1; N is the dealer). spin-run sets it; "
     "otherwise SLURM_PROCID, OMPI_COMM_WORLD_RANK or PMI_RANK is used."},
    {"SPIN_NPARTIES", NULL,
     "Number of computing parties N (the dealer is extra). Default: lines "
     "of the peers file minus one."},
    {"SPIN_PEERS_FILE", NULL,
     "File with one endpoint per line (tcp://HOST:PORT, ipc://PATH or "
     "rdma://HOST:PORT; the transport chosen must take the scheme) for "
     "parties 0..N-1, then the dealer; '#' starts a comment. spin-run writes one."},
    {"SPIN_LOCAL_PROCS", "1",
     "Spin processes (parties and dealers) sharing this host's cores, for "
     "spin-run --peers: each gets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS = "
     "max(1, cores / K), and OMP_WAIT_POLICY=passive when K > 1, where the user "
     "has not set them (spin-run -n N counts its own N + 1). 1..4096."},
    {"SPIN_FRAC_BITS", "16",
     "Fixed-point fractional bits f (1..30); every party must use the same. "
     "A product x*y is exact only while |x*y| < 2^(62-2f) (f = 16: 2^30, "
     "f = 18: 2^26; x*x while |x| < 2^(31-f)); for f > 21 that bound is "
     "below 2^20 and every context logs a warning at open naming it "
     "(f = 24: 2^14, x*x for |x| < 2^7)."},
    {"SPIN_KEY_DIR", NULL,
     "Directory of CurveZMQ key files (spin-keygen): when set, every link is "
     "authenticated and encrypted and unknown keys are refused."},
    {"SPIN_DEALER_PREFETCH_MB", "256",
     "Memory the dealer may fill with corrections prepared ahead of the "
     "parties' requests (predicted from the repeating sequence of shapes); "
     "0 turns run-ahead off; at most 65536 (a malformed value warns and 256 applies)."},
    {"SPIN_CHECK_RANGES", "0",
     "1: a debug mode for development. Before every product's and explicit "
     "truncation's truncation (mul, square, matmul, conv2d and its gradients, "
     "static matmul, scale, trunc, average pooling) two secure comparisons "
     "check each input against the truncation's range |x| < 2^62, and party 0 "
     "alone learns the verdicts and logs the first operation and element "
     "outside it. Reveals one bit per element to party 0 and costs two "
     "comparisons (7 rounds) per truncation; the non-linear functions' "
     "internal truncations are not checked. Every party must set it alike. "
     "0 or unset: off, no cost."},
    {"SPIN_DEALER_STATIC_MB", "1024",
     "Memory the dealer may keep for the session's static-operand masks "
     "(spin_static_new: one per weight matrix opened once, e.g. spin-infer's "
     "model); each mask counts its size plus 64 bytes. A mask beyond it is "
     "refused with an error naming the request and the cap, and the run stops; "
     "0 refuses every static operand; at most 1048576 (a malformed value warns "
     "and 1024 applies)."},
    {"SPIN_RDMA_DEVICE", NULL,
     "RDMA device for the rdma plugin, NAME or NAME:PORT (default: the first "
     "active port)."},
    {"SPIN_RDMA_GID_INDEX", "auto", "RoCE GID index for the rdma plugin."},
    {"SPIN_RDMA_CHUNK", "256K", "Size of one rdma message piece (ring slot)."},
    {"SPIN_RDMA_SLOTS", "16", "Receive-ring slots per peer (credits) in the rdma plugin."},
    {"SPIN_RDMA_GPUDIRECT", "auto",
     "GPU memory over rdma: auto (register device buffers directly, GPUDirect "
     "RDMA via dma-buf or nvidia-peermem, where that works; else stage them "
     "through host memory), off (always stage), on (fail at open, naming why, "
     "unless GPUDirect RDMA works)."},
    {"SPIN_RDMA_REG_CACHE", "auto",
     "Send straight from registered user buffers: auto (only with on-demand "
     "paging, where a freed and reused address cannot send stale data), on, off."},
    {"SLURM_PROCID", NULL, "Party id under srun, if SPIN_PARTY is unset."},
    {"OMPI_COMM_WORLD_RANK", NULL, "Party id under Open MPI's mpirun, if SPIN_PARTY is unset."},
    {"PMI_RANK", NULL, "Party id under MPICH/Hydra, if SPIN_PARTY is unset."},
    {"SPIN_CPU_GEMM", "auto",
     "Ring GEMM kernel of the cpu plugin: auto (best the CPU supports), "
     "avx512, avx2 or generic (portable C)."},
    {"SPIN_CUDA_DEVICE", "0",
     "CUDA device index the cuda plugin uses (0..count-1); an index that does "
     "not exist keeps the plugin from initialising, with the reason."},
    {"SPIN_CUDA_GEMM", "auto",
     "Ring GEMM method of the cuda plugin: auto, limb16 (float64 cuBLAS on "
     "16-bit limbs), int8 (tensor-core int8 GEMMs) or native (64-bit integer "
     "kernel). An unknown value gives a warning and auto is used."},
    {"SPIN_REDUCE_PLAN", NULL,
     "Group sizes g1,g2,... of the maximum/argmax/pooling tournament (then 2s), "
     "overriding the cost model; for measurements and tests. Every party must "
     "use the same value. Unset: chosen by the cost model."},
    {"OMP_NUM_THREADS", NULL,
     "Threads used by the cpu plugin's kernels (OpenMP). Unset: all cores, "
     "except under spin-run, which gives each of the K processes on this host "
     "max(1, cores / K) (SPIN_LOCAL_PROCS for --peers); a value you set wins."},
    {"OMP_WAIT_POLICY", NULL,
     "How idle OpenMP threads wait (active spins, passive sleeps). Unset: the "
     "OpenMP default, except under spin-run with more than one process on the "
     "host, which sets passive so processes do not spin against each other; a "
     "value you set wins."},
    {"OPENBLAS_NUM_THREADS", NULL,
     "Threads of OpenBLAS (the float64 reference and DGEMM baselines). Unset: "
     "all cores, except under spin-run, which sets the same share as "
     "OMP_NUM_THREADS; a value you set wins."},
    {"TMPDIR", "/tmp",
     "Where spin-run, spin-bench net and spin_run_local() create the private "
     "(0700) temporary directory of their ipc:// endpoints; /tmp is used if "
     "TMPDIR is relative or longer than 64 characters (the socket path limit)."},
    {"GLIBC_TUNABLES", NULL,
     "Left as it is when set. Unset: spin-run gives the parties and the dealer "
     "glibc.malloc.trim_threshold=256 MiB and mmap_threshold=32 MiB, so large "
     "message buffers are reused rather than mapped and unmapped each time."},
};

const spin_env_var_t *spin_env_vars(size_t *n)
{
    if (n) *n = sizeof env_table / sizeof env_table[0];
    return env_table;
}
