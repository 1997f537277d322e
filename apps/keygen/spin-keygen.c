/*
 * spin-keygen - write a party's CurveZMQ key pair for the tcp transport.
 *
 *   spin-keygen -p PARTY -d DIR [--force]
 *
 * Writes DIR/party<PARTY>.pub (public, Z85, mode 0644) and
 * DIR/party<PARTY>.key (secret, Z85, mode 0600).  Existing files are never
 * overwritten unless --force is given, in which case each file is replaced
 * atomically (written to a temporary file, then renamed).  Every party needs
 * every other party's .pub file in its own key directory (SPIN_KEY_DIR).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: spin-keygen -p PARTY -d DIR [--force]\n"
            "Write the CurveZMQ key pair of party PARTY for authenticated, encrypted links\n"
            "(tcp transport):\n"
            "  DIR/partyPARTY.pub   public key (give it to every other party)\n"
            "  DIR/partyPARTY.key   secret key (mode 0600; never share it)\n"
            "Options:\n"
            "  -p, --party N   party id (0, 1, ...; the dealer is the last id)\n"
            "  -d, --dir DIR   key directory (must exist); point SPIN_KEY_DIR at it\n"
            "  -f, --force     replace existing files (atomically)\n"
            "  -h, --help      this text\n");
}

/* Key material is wiped before its buffer goes out of scope. */
static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write key + "\n" to path with the given mode.  Without force the file
 * must not exist (O_EXCL); with force it is replaced via temp + rename. */
static int write_key(const char *dir, const char *path, const char *key, mode_t mode, int force)
{
    char line[64];
    snprintf(line, sizeof line, "%s\n", key);
    size_t len = strlen(line);
    int rc = -1;
    if (!force) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0) {
            if (errno == EEXIST)
                fprintf(stderr, "spin-keygen: %s already exists: not overwriting it (use --force "
                                "to replace the key pair)\n", path);
            else
                fprintf(stderr, "spin-keygen: cannot create %s: %s\n", path, strerror(errno));
            wipe(line, sizeof line);
            return -1;
        }
        if (fchmod(fd, mode) == 0 && write_all(fd, line, len) == 0 && fsync(fd) == 0) rc = 0;
        else fprintf(stderr, "spin-keygen: cannot write %s: %s\n", path, strerror(errno));
        if (close(fd) != 0 && rc == 0) {
            fprintf(stderr, "spin-keygen: cannot write %s: %s\n", path, strerror(errno));
            rc = -1;
        }
        if (rc) unlink(path);
        wipe(line, sizeof line);
        return rc;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.spin-keygen-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "spin-keygen: cannot create a temporary file in %s: %s\n", dir,
                strerror(errno));
        wipe(line, sizeof line);
        return -1;
    }
    if (fchmod(fd, mode) == 0 && write_all(fd, line, len) == 0 && fsync(fd) == 0) rc = 0;
    if (close(fd) != 0) rc = -1;
    if (rc == 0 && rename(tmp, path) != 0) rc = -1;
    if (rc) {
        fprintf(stderr, "spin-keygen: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    wipe(line, sizeof line);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"party", required_argument, NULL, 'p'},
        {"dir", required_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long party = -1;
    const char *dir = NULL;
    int force = 0, opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":p:d:fh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p': {
            char *end;
            errno = 0;
            party = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || party < 0 || party > 4095) {
                fprintf(stderr, "spin-keygen: --party needs a party id from 0 to 4095, got \"%s\"\n",
                        optarg);
                usage(stderr);
                return 2;
            }
            break;
        }
        case 'd':
            dir = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "spin-keygen: option %s needs a value\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            if (optopt) fprintf(stderr, "spin-keygen: unknown option \"-%c\"\n", optopt);
            else fprintf(stderr, "spin-keygen: unknown option \"%s\"\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spin-keygen: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (party < 0 || !dir) {
        fprintf(stderr, "spin-keygen: %s\n", party < 0 ? "missing -p PARTY" : "missing -d DIR");
        usage(stderr);
        return 2;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        int e = errno;
        fprintf(stderr, "spin-keygen: cannot use key directory %s: %s%s\n", dir, strerror(e),
                e == ENOENT ? " (create it first, e.g. mkdir -m 700 DIR)" : "");
        return 1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "spin-keygen: %s is not a directory\n", dir);
        return 1;
    }
    if (!zmq_has("curve")) {
        fprintf(stderr, "spin-keygen: this libzmq was built without CurveZMQ support\n");
        return 1;
    }
    char pubpath[4096], keypath[4096];
    snprintf(pubpath, sizeof pubpath, "%s/party%ld.pub", dir, party);
    snprintf(keypath, sizeof keypath, "%s/party%ld.key", dir, party);
    if (!force) {
        /* Refuse before writing anything, so no half pair is left behind. */
        const char *exists = access(keypath, F_OK) == 0 ? keypath
                             : access(pubpath, F_OK) == 0 ? pubpath : NULL;
        if (exists) {
            fprintf(stderr, "spin-keygen: %s already exists: not overwriting it (use --force to "
                            "replace the key pair)\n", exists);
            return 1;
        }
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "spin-keygen: zmq_curve_keypair failed: %s\n", zmq_strerror(errno));
        wipe(sec, sizeof sec);
        return 1;
    }
    int rc = write_key(dir, keypath, sec, 0600, force);
    wipe(sec, sizeof sec);
    if (rc == 0) {
        rc = write_key(dir, pubpath, pub, 0644, force);
        if (rc && !force) unlink(keypath);
    }
    if (rc) return 1;
    printf("spin-keygen: wrote %s (public) and %s (secret, mode 0600)\n", pubpath, keypath);
    printf("public key of party %ld: %s\n", party, pub);
    return 0;
}
