/* errors.c - spin_strerror and the library version. */
#include "config.h"

#include <spin/spin.h>

const char *spin_strerror(int status)
{
    switch (status) {
    case SPIN_OK: return "success";
    case SPIN_ERR_INVAL: return "invalid argument";
    case SPIN_ERR_NOMEM: return "out of memory";
    case SPIN_ERR_UNAVAILABLE: return "unavailable on this machine";
    case SPIN_ERR_IO: return "input/output error";
    case SPIN_ERR_TIMEOUT: return "timed out waiting for a peer";
    case SPIN_ERR_PROTOCOL: return "peers out of step (protocol error)";
    case SPIN_ERR_ABI: return "plugin ABI mismatch or malformed plugin";
    case SPIN_ERR_NOTSUP: return "not supported by this backend";
    case SPIN_ERR_PEER: return "a peer disconnected or failed";
    case SPIN_ERR_AUTH: return "authentication failed";
    case SPIN_ERR_RANGE: return "value out of the documented range";
    case SPIN_ERR_CONFIG: return "configuration error or mismatch";
    case SPIN_ERR_INTERNAL: return "internal error";
    default: return "unknown status code";
    }
}

const char *spin_version(void)
{
    return PACKAGE_VERSION;
}
