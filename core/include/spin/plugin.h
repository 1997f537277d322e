/*
 * spin/plugin.h - the whole Spin plugin SDK.
 *
 * A Spin plugin is a shared object that exports exactly one symbol,
 * SPIN_PLUGIN_QUERY_SYMBOL ("spin_plugin_query"), a function that returns a
 * pointer to a constant spin_plugin_desc_t.  The descriptor says which ABI the
 * plugin was compiled against, what kind of backend it is (compute or
 * transport), its name, version and capability bits, its init/fini functions
 * and its ops table.
 *
 * ABI rules (checked by the loader, see docs/PLUGINS.md):
 *   - abi_major must equal SPIN_ABI_MAJOR of the core;
 *   - abi_minor may not exceed the core's SPIN_ABI_MINOR;
 *   - struct_size / ops_size must be at least the size of the structure as it
 *     was in ABI 1.0; structures only ever grow by appending fields, so a core
 *     reads only the fields that the plugin's ABI minor version contains.
 *   - every op marked "mandatory" must be non-NULL, or the plugin is rejected;
 *     optional ops are never called when NULL.
 *   - plugin names are API: never rename one.
 *
 * Conventions: every function returns 0 (SPIN_OK) or a negative SPIN_ERR_*
 * code; outputs are written only on success (the few exceptions are named
 * at their op).  "state" is the pointer that init() produced; each init()
 * call creates an independent instance, so several Spin contexts (parties
 * run as threads, say) can use one plugin file in one process.  Plugins keep
 * no global mutable state.  Every slot's comment below says what it does,
 * whether it is mandatory (and what NULL means if not), which thread may
 * call it, what it returns on each error, and its edge cases.  The
 * conformance suites (tests/conformance_compute*.c,
 * tests/conformance_transport.c) define the contract and run against every
 * bundled plugin.
 *
 * Threading.  The core makes one instance (one init() call) per plugin and
 * runtime, and spin_ctx_open() opens one runtime per context: parties run as
 * threads of one process (spin_run_local(), the conformance suites) each
 * have their own compute instance, transport instance and communicator, so
 * init() of one plugin file may run on several threads at once.  All calls
 * on one instance, and on what it made (memory, streams, events, a
 * communicator, its requests), come from the thread that drives the
 * context, one call at a time: no two calls on one state or comm are ever
 * concurrent, and plugins need no locks for that.  Distinct instances are
 * used concurrently.  A transport may call its context's compute ops
 * (spin_transport_cfg_t.compute_ops) from inside its own ops: the same
 * thread.  A plugin may run threads of its own inside a call (OpenMP,
 * ZeroMQ's I/O thread, CUDA host functions).
 *
 * Errors.  Unless a slot's comment says otherwise, a failing op logs the
 * reason at SPIN_LOG_ERROR through host->log where the problem is found,
 * naming the op and the value or peer (the conformance suites check for
 * it), and returns one of:
 *   SPIN_ERR_INVAL     a bad argument: a NULL pointer with a non-zero size,
 *                      an unknown op or dtype, a bad shape, geometry or
 *                      leading dimension, a shift or f above 63, a peer out
 *                      of range or oneself, a stream or event that is not
 *                      the plugin's;
 *   SPIN_ERR_NOMEM     out of host or device memory;
 *   SPIN_ERR_RANGE     a value outside its documented range (ring_from_f64,
 *                      prg_fill);
 *   SPIN_ERR_INTERNAL  a device, driver or library failure, or a bug (the
 *                      cuda plugin maps CUDA's out-of-memory to
 *                      SPIN_ERR_NOMEM, invalid-value to SPIN_ERR_INVAL,
 *                      no-device/no-driver to SPIN_ERR_UNAVAILABLE and every
 *                      other CUDA error to SPIN_ERR_INTERNAL; the cpu plugin
 *                      returns it when OpenSSL fails);
 *   SPIN_ERR_UNAVAILABLE  init(): no such device or driver here;
 *   SPIN_ERR_NOTSUP    not supported by this plugin or machine (a plugin
 *                      may return it from a mandatory op it does not
 *                      implement, as examples/plugin does; such a plugin
 *                      does not pass the conformance suite);
 *   SPIN_ERR_CONFIG    a bad setting, endpoint or key file, or a peer
 *                      configured differently (party count, fingerprint);
 *   SPIN_ERR_AUTH      a peer's key was refused;
 *   SPIN_ERR_TIMEOUT   a peer stayed silent for timeout_ms;
 *   SPIN_ERR_PEER      a peer closed its communicator, exited or reset the
 *                      link;
 *   SPIN_ERR_PROTOCOL  a peer is out of step: another tag, length or
 *                      sequence number than the receive expects, or
 *                      malformed framing;
 *   SPIN_ERR_IO        a system call or network operation failed.
 * An asynchronous compute plugin (SPIN_CAP_COMPUTE_ASYNC) checks the
 * arguments and queues the work inside the call: a failure of the queued
 * work is returned by a later call on that stream (stream_sync, event_sync
 * or a later op), and that work's outputs are undefined.  A transport link
 * that failed stays failed: every later operation on it returns that
 * link's code at once.
 */
#ifndef SPIN_PLUGIN_H
#define SPIN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <spin/errors.h>
#include <spin/log.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPIN_ABI_MAJOR 1
#define SPIN_ABI_MINOR 2

/** Name of the one symbol a plugin exports. */
#define SPIN_PLUGIN_QUERY_SYMBOL "spin_plugin_query"

#if defined(__GNUC__)
#define SPIN_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SPIN_PLUGIN_EXPORT
#endif

typedef enum spin_plugin_kind {
    SPIN_PLUGIN_COMPUTE = 1,
    SPIN_PLUGIN_TRANSPORT = 2
} spin_plugin_kind_t;

/* ------------------------------------------------------------------------ */
/* Capability bits (spin_plugin_desc_t.caps).                               */
/* ------------------------------------------------------------------------ */

/** Compute: memory returned by mem_alloc is device memory, not host memory;
 *  the core must use copy_h2d/copy_d2h to read or write it. */
#define SPIN_CAP_COMPUTE_DEVICE_MEM   (UINT64_C(1) << 0)
/** Compute: streams really run asynchronously (events are meaningful). */
#define SPIN_CAP_COMPUTE_ASYNC        (UINT64_C(1) << 1)
/** Compute: float64 ops for the plaintext reference are provided
 *  (f64_gemm, f64_binary, f64_scalar, f64_unary all non-NULL). */
#define SPIN_CAP_COMPUTE_F64          (UINT64_C(1) << 2)
/** Transport: send/recv (and isend/irecv) accept device-memory buffers of
 *  the context's compute plugin (spin_transport_cfg_t.compute_name, with its
 *  ops in compute_ops; ABI 1.1).  Whether that holds depends on the machine
 *  and on the compute plugin, so a transport reports it per communicator
 *  with spin_transport_ops_t.comm_caps; in a descriptor's caps the bit means
 *  "always, for every communicator".  Without it the core stages device
 *  memory through host buffers. */
#define SPIN_CAP_TRANSPORT_DEVICE_MEM (UINT64_C(1) << 16)
/** Transport: links can be authenticated and encrypted (key files). */
#define SPIN_CAP_TRANSPORT_SECURE     (UINT64_C(1) << 17)

/* ------------------------------------------------------------------------ */
/* What the core hands to a plugin at init.                                 */
/* ------------------------------------------------------------------------ */

typedef struct spin_plugin_host {
    uint32_t struct_size;        /**< sizeof(spin_plugin_host_t) of the core */
    const spin_logger_t *log;    /**< log through spin_log(host->log, ...) */
    /** Configuration lookup (environment by default); returns NULL if unset.
     *  Plugins must use this rather than getenv() so tests can inject it. */
    const char *(*getenv)(void *env_ctx, const char *name);
    void *env_ctx;
} spin_plugin_host_t;

/* The two ops tables (each in its own header, part of this SDK). */
#ifdef __cplusplus
}
#endif
#include <spin/plugin_compute.h>
#include <spin/plugin_transport.h>
#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* The descriptor.                                                          */
/* ------------------------------------------------------------------------ */

typedef struct spin_plugin_desc {
    uint32_t abi_major;          /**< SPIN_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;          /**< SPIN_ABI_MINOR the plugin was built with */
    uint32_t struct_size;        /**< sizeof(spin_plugin_desc_t) */
    uint32_t kind;               /**< spin_plugin_kind_t */
    const char *name;            /**< short, stable, [a-z0-9_]+ */
    const char *version;         /**< free-form, for spin-info */
    const char *description;     /**< one line, for spin-info */
    uint64_t caps;               /**< SPIN_CAP_* */
    /**
     * Create an instance.  On "no such device / driver here" return
     * SPIN_ERR_UNAVAILABLE with a reason in why; on other failures another
     * code, again with a reason.  why is always NUL-terminated by the core.
     *
     * The instance goes to *state (written only on success, never NULL
     * then: the core counts success without a state, and any positive
     * return, as SPIN_ERR_INTERNAL).  host (and host->log) stays valid
     * until fini.  why has whylen bytes (512 from the core) and is shown in
     * spin-info and in selection errors; an unavailable plugin is listed as
     * such and the test suites skip it.  Other codes: SPIN_ERR_NOMEM,
     * SPIN_ERR_CONFIG for a bad setting read through host->getenv (a device
     * index, a ring size), SPIN_ERR_INTERNAL for a device or library
     * failure.  On failure the plugin releases everything itself: fini is
     * not called.  Configuration comes from host->getenv only.
     * Mandatory.  Thread: any; the core keeps at most one instance per
     * runtime (init runs when the plugin is first selected or probed, and
     * again only after a failure), and runtimes of different contexts call
     * it on their own threads, at the same time.
     */
    int (*init)(const spin_plugin_host_t *host, void **state,
                char *why, size_t whylen);
    /** Destroy an instance made by init and everything it still holds.
     *  Called exactly once per successful init, when its runtime closes:
     *  after the context has closed its communicator, with no other call
     *  on the instance in flight.  Compute memory still allocated becomes
     *  invalid (the cuda plugin releases such blocks; the cpu plugin does
     *  not track them).  The core never passes NULL (the bundled plugins
     *  accept it anyway).
     *  Mandatory.  Thread: the one closing the runtime.  Returns nothing. */
    void (*fini)(void *state);
    const void *ops;             /**< spin_compute_ops_t / spin_transport_ops_t */
    uint32_t ops_size;           /**< sizeof of that ops struct */

    /* --- ABI 1.2 (read only when struct_size >= SPIN_PLUGIN_DESC_SIZE_1_2) */
    /** Transport: the endpoint schemes it accepts, space-separated without
     *  "://", e.g. "tcp ipc".  The core picks (or checks) a transport by the
     *  schemes of the endpoints, so a new scheme needs no core edit.  NULL,
     *  or a plugin of ABI < 1.2: "tcp ipc".  Compute plugins: NULL. */
    const char *endpoint_schemes;
    /* Append new fields here only. */
} spin_plugin_desc_t;

typedef const spin_plugin_desc_t *(*spin_plugin_query_fn)(void);

/** Size of spin_compute_ops_t / spin_transport_ops_t in ABI 1.0. */
#define SPIN_COMPUTE_OPS_SIZE_1_0 (offsetof(spin_compute_ops_t, f64_unary) + sizeof(void (*)(void)))
#define SPIN_TRANSPORT_OPS_SIZE_1_0 (offsetof(spin_transport_ops_t, stats) + sizeof(void (*)(void)))
#define SPIN_PLUGIN_DESC_SIZE_1_0 (offsetof(spin_plugin_desc_t, ops_size) + sizeof(uint32_t))
#define SPIN_PLUGIN_DESC_SIZE_1_2 (offsetof(spin_plugin_desc_t, endpoint_schemes) + sizeof(const char *))
/** Size of spin_transport_cfg_t in ABI 1.0, and since ABI 1.1 (the compute
 *  backend fields). */
#define SPIN_TRANSPORT_CFG_SIZE_1_0 (offsetof(spin_transport_cfg_t, fingerprint) + sizeof(uint64_t))
#define SPIN_TRANSPORT_CFG_SIZE_1_1 (offsetof(spin_transport_cfg_t, compute_state) + sizeof(void *))

#ifdef __cplusplus
}
#endif

#endif /* SPIN_PLUGIN_H */
