/* fuzz_ckpt.c - the spin-train checkpoint header reader
 * (apps/train/train_io.c): the input is the file DIR/plaintext.ckpt that
 * ckpt_resume (plaintext: ctx NULL) probes and loads, for a run of the
 * LeNet model, batch 64, seed 7, f = 16 (tests/fuzz/corpus/ckpt holds
 * valid headers of that run).  The engine is a stand-in whose load reads
 * 16 bytes of state.
 *
 * Checks beyond "no crash": a resumed checkpoint starts with "SPINCKP1"
 * and this run's header fields (model, party count, party, f, seed,
 * batch), ends with "SPINEND1", and the position returned is the header's
 * epoch and batch index exactly (a non-negative int epoch, nothing
 * truncated); a refusal has a message. */
#include "config.h"

#include "fuzz_common.h"
#include "train_io.h"


#define STATE_BYTES 16

static int fake_load(engine_t *e, FILE *f)
{
    (void)e;
    unsigned char st[STATE_BYTES];
    return fread(st, 1, sizeof st, f) == sizeof st ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static model_spec_t m;
    static int ready;
    char msg[2048];
    if (!ready) {
        if (model_build("lenet", &m, msg, sizeof msg) != 0) {
            fprintf(stderr, "model_build: %s\n", msg);
            abort();
        }
        ready = 1;
    }
    train_hp_t hp = {.batch = 64, .lr = 0.01, .momentum = 0.9, .weight_decay = 0, .seed = 7};
    engine_t e;
    memset(&e, 0, sizeof e);
    e.m = &m;
    e.hp = hp;
    e.load = fake_load;

    const char *dir = fuzz_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/plaintext.ckpt", dir);
    fuzz_write_file(path, data, size);
    int epoch = -12345;
    size_t iter = 999;
    msg[0] = '\0';
    int rc = ckpt_resume(NULL, &e, dir, &m, &hp, 16, &epoch, &iter, msg, sizeof msg);
    unlink(path);
    FUZZ_NOTE("ckpt_resume: %d, epoch %d, batch %zu: %s", rc, epoch, iter, msg);
    if (rc) {
        FUZZ_CHECK(msg[0], "refused (%d) without a message", rc);
        return 0;
    }
    ckpt_hdr_t h;
    FUZZ_CHECK(size >= sizeof h + 8, "a %zu-byte checkpoint resumed", size);
    memcpy(&h, data, sizeof h);
    FUZZ_CHECK(!memcmp(h.magic, "SPINCKP1", 8), "magic");
    FUZZ_CHECK(!strncmp(h.model, m.name, sizeof h.model) && h.nparties == 0 && h.party == 0 &&
                   h.frac_bits == 16 && h.seed == 7 && h.batch == 64,
               "a header of another run resumed");
    FUZZ_CHECK(!memcmp(data + size - 8, "SPINEND1", 8), "no end marker");
    FUZZ_CHECK(epoch >= 0 && (uint64_t)epoch == h.epoch,
               "resumed at epoch %d, the header says %llu", epoch, (unsigned long long)h.epoch);
    FUZZ_CHECK((uint64_t)iter == h.iter, "resumed at batch %zu, the header says %llu", iter,
               (unsigned long long)h.iter);
    return 0;
}
