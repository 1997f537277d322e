/* conformance_transport_data.c - the "data" test case of the transport
 * conformance suite: ordering of blocking and non-blocking messages with
 * exact counters, zero-length messages and invalid arguments, 64 MiB
 * messages, and a concurrent all-to-all with waits out of order. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spin/spin.h>

#include "testutil.h"
#include "conformance_transport.h"

/* ------------------------------------------------------------------------ */
/* Test data.                                                               */
/* ------------------------------------------------------------------------ */

static const size_t k_sizes[] = {0,     1,     3,      8,      64,     1000,   4096,
                                 32767, 32768, 32769,  65536,  100003, 262144, 1u << 20};
#define NSIZES (sizeof k_sizes / sizeof k_sizes[0])

static size_t msg_size(int from, int to, int k)
{
    return k_sizes[(size_t)(k * 7 + from * 3 + to * 5) % NSIZES];
}

static uint64_t seed_of(int from, int to, int k, int salt)
{
    return ((uint64_t)from << 48) ^ ((uint64_t)to << 40) ^ ((uint64_t)salt << 32) ^ (uint64_t)k;
}

static void fill(unsigned char *b, size_t len, uint64_t seed)
{
    uint64_t st = seed;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = tu_rand64(&st);
        memcpy(b + i, &w, 8);
    }
    if (i < len) {
        uint64_t w = tu_rand64(&st);
        memcpy(b + i, &w, len - i);
    }
}

/* Offset of the first wrong byte, or -1. */
static long long verify(const unsigned char *b, size_t len, uint64_t seed)
{
    uint64_t st = seed;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = tu_rand64(&st);
        if (memcmp(b + i, &w, 8) != 0) return (long long)i;
    }
    if (i < len) {
        uint64_t w = tu_rand64(&st);
        if (memcmp(b + i, &w, len - i) != 0) return (long long)i;
    }
    return -1;
}

static unsigned char *make_msg(int from, int to, int k, int salt, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    if (b) fill(b, len, seed_of(from, to, k, salt));
    return b;
}

/* ------------------------------------------------------------------------ */
/* Ordering: blocking pairwise, then everything non-blocking; counters.     */
/* ------------------------------------------------------------------------ */

#define ORDER_M 24

static void body_order(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int n = p->s->n, me = p->me;
    uint64_t exp_bs[MAXP] = {0}, exp_br[MAXP] = {0};

    /* Phase 1: blocking send/recv, pairwise in ascending peer order. */
    for (int j = 0; j < n; j++) {
        if (j == me) continue;
        for (int half = 0; half < 2; half++) {
            int sending = (half == 0) == (me < j);
            for (int k = 0; k < ORDER_M; k++) {
                if (sending) {
                    size_t len = msg_size(me, j, k);
                    unsigned char *b = make_msg(me, j, k, 1, len);
                    int rc = t->send(p->comm, j, 100 + (uint32_t)k, b, len);
                    free(b);
                    REQ(p, rc == 0, "party %d: send #%d to %d failed: %s", me, k, j,
                        spin_strerror(rc));
                    exp_bs[j] += len;
                } else {
                    size_t len = msg_size(j, me, k);
                    unsigned char *b = malloc(len ? len : 1);
                    int rc = t->recv(p->comm, j, 100 + (uint32_t)k, b, len);
                    long long bad = rc ? -1 : verify(b, len, seed_of(j, me, k, 1));
                    free(b);
                    REQ(p, rc == 0, "party %d: recv #%d from %d failed: %s", me, k, j,
                        spin_strerror(rc));
                    REQ(p, bad < 0, "party %d: message #%d from %d (%zu bytes) wrong at byte %lld",
                        me, k, j, len, bad);
                    exp_br[j] += len;
                }
            }
        }
    }

    /* Phase 2: post everything, then wait in posting order. */
    int nreq = 2 * ORDER_M * (n - 1);
    spin_request_t **rq = calloc((size_t)nreq, sizeof *rq);
    unsigned char **bufs = calloc((size_t)nreq, sizeof *bufs);
    int *isrecv = calloc((size_t)nreq, sizeof *isrecv);
    int *from = calloc((size_t)nreq, sizeof *from);
    int *kk = calloc((size_t)nreq, sizeof *kk);
    REQ(p, rq && bufs && isrecv && from && kk, "out of memory");
    int r = 0, rc = 0;
    for (int k = 0; k < ORDER_M && !rc; k++) {
        for (int j = 0; j < n && !rc; j++) {
            if (j == me) continue;
            size_t len = msg_size(me, j, k + 50);
            bufs[r] = make_msg(me, j, k, 2, len);
            rc = t->isend(p->comm, j, 500 + (uint32_t)k, bufs[r], len, &rq[r]);
            exp_bs[j] += len;
            r++;
            if (rc) break;
            len = msg_size(j, me, k + 50);
            bufs[r] = malloc(len ? len : 1);
            isrecv[r] = 1;
            from[r] = j;
            kk[r] = k;
            rc = t->irecv(p->comm, j, 500 + (uint32_t)k, bufs[r], len, &rq[r]);
            exp_br[j] += len;
            r++;
        }
    }
    for (int i = 0; i < r; i++) {
        int w = rq[i] ? t->wait(p->comm, rq[i]) : 0;
        if (w && !rc) rc = w;
        if (!w && isrecv[i] && !p->fail[0]) {
            size_t len = msg_size(from[i], me, kk[i] + 50);
            long long bad = verify(bufs[i], len, seed_of(from[i], me, kk[i], 2));
            if (bad >= 0)
                pfail(p, "party %d: non-blocking message #%d from %d wrong at byte %lld", me, kk[i],
                      from[i], bad);
        }
        free(bufs[i]);
    }
    free(rq);
    free(bufs);
    free(isrecv);
    free(from);
    free(kk);
    REQ(p, rc == 0, "party %d: non-blocking phase failed: %s", me, spin_strerror(rc));

    /* Counters: exact payload bytes and message counts, per peer. */
    for (int j = 0; j < n; j++) {
        spin_transport_stats_t st;
        memset(&st, 0xff, sizeof st);
        rc = t->stats(p->comm, j, &st);
        REQ(p, rc == 0, "party %d: stats(%d) failed: %s", me, j, spin_strerror(rc));
        uint64_t em = j == me ? 0 : 2 * ORDER_M;
        REQ(p, st.bytes_sent == exp_bs[j] && st.bytes_recv == exp_br[j],
            "party %d: stats for peer %d: %llu bytes sent / %llu received, expected %llu / %llu", me,
            j, (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_recv,
            (unsigned long long)exp_bs[j], (unsigned long long)exp_br[j]);
        REQ(p, st.msgs_sent == em && st.msgs_recv == em,
            "party %d: stats for peer %d: %llu messages sent / %llu received, expected %llu", me, j,
            (unsigned long long)st.msgs_sent, (unsigned long long)st.msgs_recv,
            (unsigned long long)em);
    }
}

void run_order(int n, const char *key_dir)
{
    sess_t s;
    sess_init(&s, n);
    for (int i = 0; i < n; i++) s.pc[i].key_dir = key_dir;
    sess_run(&s, body_order);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}

START_TEST(order_2) { run_order(2, NULL); }
END_TEST
START_TEST(order_3) { run_order(3, NULL); }
END_TEST
START_TEST(order_4) { run_order(4, NULL); }
END_TEST

/* ------------------------------------------------------------------------ */
/* Zero-length messages, invalid arguments, exact counters.                 */
/* ------------------------------------------------------------------------ */

static void body_zero(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int me = p->me, peer = 1 - me;
    unsigned char small[16] = {0}, got[16];
    if (me == 0) {
        /* Invalid arguments are refused, not sent. */
        int rc = t->send(p->comm, 0, 1, small, 1);
        REQ(p, rc == SPIN_ERR_INVAL, "send to myself returned %s", spin_strerror(rc));
        rc = t->send(p->comm, 7, 1, small, 1);
        REQ(p, rc == SPIN_ERR_INVAL, "send to party 7 of 2 returned %s", spin_strerror(rc));
        rc = t->send(p->comm, -1, 1, small, 1);
        REQ(p, rc == SPIN_ERR_INVAL, "send to party -1 returned %s", spin_strerror(rc));
        for (int k = 0; k < 20; k++) {
            size_t len = k % 3 == 2 ? 16 : 0;
            for (int b = 0; b < 16; b++) small[b] = (unsigned char)(k + b);
            rc = t->send(p->comm, peer, 40 + (uint32_t)k, k % 3 == 0 ? NULL : small, len);
            REQ(p, rc == 0, "zero-length send #%d: %s", k, spin_strerror(rc));
        }
        /* Counters: 20 messages, 6 of them 16 bytes long. */
        spin_transport_stats_t st;
        rc = t->stats(p->comm, peer, &st);
        REQ(p, rc == 0 && st.msgs_sent == 20 && st.bytes_sent == 6 * 16 && st.msgs_recv == 0 &&
                   st.bytes_recv == 0,
            "sender counters: %llu msgs, %llu bytes (expected 20, 96)",
            (unsigned long long)st.msgs_sent, (unsigned long long)st.bytes_sent);
    } else {
        for (int k = 0; k < 20; k++) {
            size_t len = k % 3 == 2 ? 16 : 0;
            memset(got, 0xee, sizeof got);
            int rc = t->recv(p->comm, peer, 40 + (uint32_t)k, k % 3 == 1 ? NULL : got, len);
            REQ(p, rc == 0, "zero-length recv #%d: %s", k, spin_strerror(rc));
            if (len) {
                for (int b = 0; b < 16; b++)
                    REQ(p, got[b] == (unsigned char)(k + b), "message #%d byte %d wrong", k, b);
            } else if (k % 3 != 1) {
                REQ(p, got[0] == 0xee, "a zero-length receive wrote into the buffer");
            }
        }
        spin_transport_stats_t st;
        int rc = t->stats(p->comm, peer, &st);
        REQ(p, rc == 0 && st.msgs_recv == 20 && st.bytes_recv == 6 * 16 && st.msgs_sent == 0,
            "receiver counters: %llu msgs, %llu bytes (expected 20, 96)",
            (unsigned long long)st.msgs_recv, (unsigned long long)st.bytes_recv);
    }
}

START_TEST(zero_length)
{
    sess_t s;
    sess_init(&s, 2);
    sess_run(&s, body_zero);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 64 MiB messages, pattern-checked, both directions.                       */
/* ------------------------------------------------------------------------ */

#define BIG (64u << 20)

static void body_large(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int me = p->me, peer = 1 - me;
    for (int dir = 0; dir < 2; dir++) {
        int sender = dir == 0 ? 0 : 1;
        if (me == sender) {
            unsigned char *b = make_msg(me, peer, dir, 3, BIG);
            REQ(p, b, "out of memory");
            int rc = t->send(p->comm, peer, 77, b, BIG);
            free(b);
            REQ(p, rc == 0, "party %d: 64 MiB send failed: %s", me, spin_strerror(rc));
        } else {
            unsigned char *b = malloc(BIG);
            REQ(p, b, "out of memory");
            int rc = t->recv(p->comm, peer, 77, b, BIG);
            long long bad = rc ? -1 : verify(b, BIG, seed_of(peer, me, dir, 3));
            free(b);
            REQ(p, rc == 0, "party %d: 64 MiB recv failed: %s", me, spin_strerror(rc));
            REQ(p, bad < 0, "party %d: 64 MiB message wrong at byte %lld", me, bad);
        }
    }
    spin_transport_stats_t st;
    int rc = t->stats(p->comm, peer, &st);
    REQ(p, rc == 0 && st.bytes_sent == BIG && st.bytes_recv == BIG && st.msgs_sent == 1 &&
               st.msgs_recv == 1,
        "party %d: counters after 64 MiB each way: %llu/%llu bytes", me,
        (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_recv);
}

START_TEST(large_64mib)
{
    sess_t s;
    sess_init(&s, 2);
    sess_run(&s, body_large);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Concurrent non-blocking all-to-all, waits out of order.                  */
/* ------------------------------------------------------------------------ */

#define A2A_ROUNDS 6
#define A2A_PER 3

static void body_a2a(party_t *p)
{
    const spin_transport_ops_t *t = p->t;
    int n = p->s->n, me = p->me;
    int per = A2A_PER * (n - 1);
    spin_request_t *sq[A2A_PER * MAXP], *rq[A2A_PER * MAXP];
    unsigned char *sb[A2A_PER * MAXP], *rb[A2A_PER * MAXP];
    int rfrom[A2A_PER * MAXP], rk[A2A_PER * MAXP];
    for (int round = 0; round < A2A_ROUNDS; round++) {
        int ns = 0, nr = 0, rc = 0;
        /* Everyone sends to everyone ... */
        for (int j = 0; j < n && !rc; j++) {
            if (j == me) continue;
            for (int k = 0; k < A2A_PER && !rc; k++) {
                int kid = round * A2A_PER + k;
                size_t len = msg_size(me, j, kid + 3);
                sb[ns] = make_msg(me, j, kid, 4, len);
                rc = t->isend(p->comm, j, 900 + (uint32_t)k, sb[ns], len, &sq[ns]);
                if (rc) free(sb[ns]);
                else ns++;
            }
        }
        /* ... then receives from everyone. */
        for (int j = 0; j < n && !rc; j++) {
            if (j == me) continue;
            for (int k = 0; k < A2A_PER && !rc; k++) {
                int kid = round * A2A_PER + k;
                size_t len = msg_size(j, me, kid + 3);
                rb[nr] = malloc(len ? len : 1);
                rfrom[nr] = j;
                rk[nr] = kid;
                rc = t->irecv(p->comm, j, 900 + (uint32_t)k, rb[nr], len, &rq[nr]);
                if (rc) free(rb[nr]);
                else nr++;
            }
        }
        /* Wait for the receives last-posted first, then the sends. */
        for (int i = nr - 1; i >= 0; i--) {
            int w = t->wait(p->comm, rq[i]);
            if (w && !rc) rc = w;
            if (!w && !p->fail[0]) {
                size_t len = msg_size(rfrom[i], me, rk[i] + 3);
                long long bad = verify(rb[i], len, seed_of(rfrom[i], me, rk[i], 4));
                if (bad >= 0)
                    pfail(p, "party %d: all-to-all message %d from %d wrong at byte %lld", me, rk[i],
                          rfrom[i], bad);
            }
            free(rb[i]);
        }
        for (int i = 0; i < ns; i++) {
            int w = t->wait(p->comm, sq[i]);
            if (w && !rc) rc = w;
            free(sb[i]);
        }
        REQ(p, rc == 0 && ns == per && nr == per, "party %d: all-to-all round %d failed: %s", me,
            round, spin_strerror(rc));
    }
}

START_TEST(alltoall_4)
{
    sess_t s;
    sess_init(&s, 4);
    sess_run(&s, body_a2a);
    expect_clean(&s);
    sess_destroy_logs(&s);
    sess_free(&s);
}
END_TEST

TCase *data_tcase(void)
{
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, order_2);
    tcase_add_test(tc, order_3);
    tcase_add_test(tc, order_4);
    tcase_add_test(tc, zero_length);
    tcase_add_test(tc, large_64mib);
    tcase_add_test(tc, alltoall_4);
    return tc;
}
