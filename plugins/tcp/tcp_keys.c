/*
 * tcp_keys.c - CurveZMQ key files and the ZAP handler.
 *
 * key_dir holds party<i>.pub (Z85, 40 characters and a newline) for every
 * party and party<me>.key, my secret key (same format, mode 0600: a secret
 * key file that group or others may access is refused, naming the chmod
 * that fixes it); files are written by spin-keygen.  Key material is never
 * logged, and every buffer that held it is wiped (explicit_bzero).
 *
 * The ZAP handler (a thread with a REP socket on inproc://zeromq.zap.01 in
 * the communicator's own context) accepts a CURVE client only if its public
 * key is one of the parties' and sets the connection's User-Id to that
 * party's id; the HELLO check in tcp_comm.c then requires User-Id == the
 * party the peer claims to be.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tcp_internal.h"

#define LOGE(c, ...) spin_log((c)->kit.log, SPIN_LOG_ERROR, __VA_ARGS__)

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

static int z85_char(int ch)
{
    static const char alpha[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                ".-:+=^!/*?&<>()[]{}@%$#";
    return ch && strchr(alpha, ch) != NULL;
}

/* Read a 40-character Z85 key from dir/name into out (NUL-terminated). */
static int read_key(tcp_comm_t *c, const char *dir, const char *name, int secret, char out[41],
                    unsigned char bin[32])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        LOGE(c, "tcp: cannot read key file %s: %s (create key pairs with spin-keygen -p PARTY -d "
                "DIR and copy every party's .pub file to every key directory)", path,
             strerror(errno));
        return SPIN_ERR_CONFIG;
    }
    struct stat sb;
    if (secret) {
        /* A secret key others can read (or replace) is not secret: refused,
         * before a byte of it is read. */
        if (fstat(fd, &sb) != 0) {
            LOGE(c, "tcp: cannot check the permissions of secret key file %s: %s", path, strerror(errno));
            close(fd);
            return SPIN_ERR_CONFIG;
        }
        if (!S_ISREG(sb.st_mode)) {
            LOGE(c, "tcp: secret key file %s is not a regular file", path);
            close(fd);
            return SPIN_ERR_CONFIG;
        }
        if (sb.st_mode & 077) {
            LOGE(c, "tcp: secret key file %s is accessible by other users (mode %03o): refusing to use it; "
                    "run chmod 600 %s (and, as the key may have been read, consider a new pair from "
                    "spin-keygen --force)", path, (unsigned)(sb.st_mode & 0777), path);
            close(fd);
            return SPIN_ERR_CONFIG;
        }
    }
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int rc = 0;
    if (n < 0) {
        LOGE(c, "tcp: cannot read key file %s: %s", path, strerror(errno));
        rc = SPIN_ERR_CONFIG;
    } else {
        buf[n] = '\0';
        size_t len = (size_t)n;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
            buf[--len] = '\0';
        int ok = len == 40;
        for (size_t i = 0; ok && i < len; i++) ok = z85_char((unsigned char)buf[i]);
        unsigned char tmp[32];
        if (ok) ok = zmq_z85_decode(tmp, buf) != NULL;
        if (!ok) {
            LOGE(c, "tcp: key file %s is malformed: expected one 40-character Z85 key as written "
                    "by spin-keygen", path);
            rc = SPIN_ERR_CONFIG;
        } else {
            memcpy(out, buf, 41);
            if (bin) memcpy(bin, tmp, 32);
        }
        wipe(tmp, sizeof tmp);
    }
    wipe(buf, sizeof buf);
    return rc;
}

int tcp_keys_load(tcp_comm_t *c, const char *dir)
{
    if (!zmq_has("curve")) {
        LOGE(c, "tcp: key_dir is set but this libzmq was built without CurveZMQ support");
        return SPIN_ERR_UNAVAILABLE;
    }
    c->pub = calloc((size_t)c->kit.n, sizeof *c->pub);
    c->zap.bin = calloc((size_t)c->kit.n, sizeof *c->zap.bin);
    if (!c->pub || !c->zap.bin) return SPIN_ERR_NOMEM;
    char name[64];
    for (int i = 0; i < c->kit.n; i++) {
        snprintf(name, sizeof name, "party%d.pub", i);
        int rc = read_key(c, dir, name, 0, c->pub[i], c->zap.bin[i]);
        if (rc) return rc;
    }
    snprintf(name, sizeof name, "party%d.key", c->kit.me);
    int rc = read_key(c, dir, name, 1, c->sec, NULL);
    if (rc) return rc;
    char derived[41];
    if (zmq_curve_public(derived, c->sec) != 0) {
        LOGE(c, "tcp: cannot derive the public key from %s/%s", dir, name);
        return SPIN_ERR_CONFIG;
    }
    int same = memcmp(derived, c->pub[c->kit.me], 40) == 0;
    wipe(derived, sizeof derived);
    if (!same) {
        LOGE(c, "tcp: %s/party%d.key and %s/party%d.pub are not one key pair: regenerate them with "
                "spin-keygen", dir, c->kit.me, dir, c->kit.me);
        return SPIN_ERR_CONFIG;
    }
    c->zap.n = c->kit.n;
    atomic_init(&c->zap.refused, 0);
    return 0;
}

/* Answer one ZAP request (RFC 27). */
static void zap_handle(tcp_zap_t *z)
{
    zmq_msg_t f[8];
    int nf = 0, more = 1;
    while (more) {
        zmq_msg_t junk;
        zmq_msg_t *m = nf < 8 ? &f[nf] : &junk;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, z->rep, 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        if (m == &junk) zmq_msg_close(m);
        else nf++;
    }
    if (nf < 6) {
        for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
        return;
    }
    const char *status = "400", *text = "unknown key";
    char user[16] = "";
    if (nf >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
        zmq_msg_size(&f[6]) == 32) {
        const unsigned char *k = zmq_msg_data(&f[6]);
        for (int i = 0; i < z->n; i++) {
            if (memcmp(k, z->bin[i], 32) == 0) {
                status = "200";
                text = "OK";
                snprintf(user, sizeof user, "%d", i);
                break;
            }
        }
    }
    if (status[0] != '2') atomic_fetch_add(&z->refused, 1);
    zmq_send(z->rep, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), ZMQ_SNDMORE);
    zmq_send(z->rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    zmq_send(z->rep, status, 3, ZMQ_SNDMORE);
    zmq_send(z->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(z->rep, "", 0, 0);
    for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
}

static void *zap_main(void *arg)
{
    tcp_zap_t *z = arg;
    zmq_pollitem_t it[2] = {{z->rep, -1, ZMQ_POLLIN, 0}, {z->ctl, -1, ZMQ_POLLIN, 0}};
    for (;;) {
        if (zmq_poll(it, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (it[1].revents & ZMQ_POLLIN) break;
        if (it[0].revents & ZMQ_POLLIN) zap_handle(z);
    }
    zmq_close(z->rep);
    zmq_close(z->ctl);
    return NULL;
}

int tcp_zap_start(tcp_comm_t *c)
{
    int zero = 0;
    c->zap.rep = zmq_socket(c->ctx, ZMQ_REP);
    c->zap.ctl = zmq_socket(c->ctx, ZMQ_PAIR);
    c->zap_ctl = zmq_socket(c->ctx, ZMQ_PAIR);
    if (!c->zap.rep || !c->zap.ctl || !c->zap_ctl) goto fail;
    zmq_setsockopt(c->zap.rep, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->zap.ctl, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->zap_ctl, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(c->zap.rep, "inproc://zeromq.zap.01") != 0) goto fail;
    if (zmq_bind(c->zap.ctl, "inproc://spin-zap-ctl") != 0) goto fail;
    if (zmq_connect(c->zap_ctl, "inproc://spin-zap-ctl") != 0) goto fail;
    if (pthread_create(&c->zap_thread, NULL, zap_main, &c->zap) != 0) goto fail;
    c->zap_running = 1;
    return 0;
fail:
    LOGE(c, "tcp: party %d: cannot start the ZAP authentication handler: %s", c->kit.me,
         zmq_strerror(errno));
    if (c->zap.rep) zmq_close(c->zap.rep);
    if (c->zap.ctl) zmq_close(c->zap.ctl);
    if (c->zap_ctl) zmq_close(c->zap_ctl);
    c->zap.rep = c->zap.ctl = c->zap_ctl = NULL;
    return SPIN_ERR_IO;
}

void tcp_zap_stop(tcp_comm_t *c)
{
    if (!c->zap_running) return;
    zmq_send(c->zap_ctl, "x", 1, 0);
    pthread_join(c->zap_thread, NULL);
    zmq_close(c->zap_ctl);
    c->zap_ctl = NULL;
    c->zap_running = 0;
}
