/* vit.h - a Transformer encoder classifier (PyTorch
 * nn.TransformerEncoderLayer names, a JSON config) over image patches (ViT)
 * or token ids, its float64 forward pass and its secure forward pass for
 * spin-infer.  The exact equations are those of models/vit-fmnist/README.md
 * and, for token ids, models/tokens-tiny/README.md. */
#ifndef SPIN_APPS_VIT_H
#define SPIN_APPS_VIT_H

#include <stddef.h>
#include <stdint.h>

#include <spin/mpc.h>

typedef struct vit_cfg {
    int layers, d_model, heads, ffn, patch, image, channels, classes;
    int gelu;          /* 1: GeLU (erf form); 0: ReLU */
    int norm_first;    /* pre-norm (1) or post-norm (0) */
    int pool_cls;      /* 1: CLS token; 0: mean over tokens */
    double eps, mean, std;
    int seq;           /* tokens when not from patches (token models, benchmarks); 0: patches + 1 */
    int vocab;         /* token model: ids 0..vocab-1, seq ids a sequence; 0: images */
} vit_cfg_t;

typedef struct vit_layer {
    double *in_w, *in_b, *out_w, *out_b, *l1_w, *l1_b, *l2_w, *l2_b, *n1_w, *n1_b, *n2_w, *n2_b;
} vit_layer_t;

typedef struct vit {
    vit_cfg_t c;
    int tokens;        /* patches + 1, or seq */
    double *pe_w, *pe_b, *cls, *pos, *norm_w, *norm_b, *head_w, *head_b;
    double *tok_embed; /* token models: [vocab][d] (no pe_w, pe_b, cls) */
    vit_layer_t *L;
} vit_t;

/* Read config.json and model.safetensors; errors name the file, the
 * tensor and the expected shape.  A config is of one kind: "patch",
 * "image", "channels" (images) or "vocab", "seq" (token ids). */
int vit_load(const char *config, const char *weights, vit_t *m, char *msg, size_t msglen);
/* Only the config (parties that do not own the model need the shapes). */
int vit_load_config(const char *config, vit_cfg_t *c, char *msg, size_t msglen);
void vit_free(vit_t *m);

/* Images (B x image x image bytes) to patch rows: [B][tokens][p*p*ch] with
 * a zero row at token 0 (the CLS slot), normalised as the config says. */
void vit_patchify(const vit_cfg_t *c, const uint8_t *img, size_t B, double *rows);

/* float64 forward: logits [B][classes]. */
int vit_forward_plain(const vit_t *m, const uint8_t *img, size_t B, double *logits);
/* The same for a token model: ids [B][seq], each in 0..vocab-1 (checked
 * by the caller). */
int vit_forward_plain_tokens(const vit_t *m, const int32_t *ids, size_t B, double *logits);

/* Switchable optimisations of the secure forward pass (spin-bench
 * transformer measures each). */
typedef struct vit_opts {
    int fold_scale;    /* 1/sqrt(d_head) folded into W_Q by the owner */
    int fused_qkv;     /* one Linear (one opening of x) for Q|K|V */
    int delayed_softmax; /* softmax(S) V as diag(1/s) (E V) */
    int nonpos_exp;    /* exp specialised for the inputs <= 0 after max subtraction */
    int static_weights; /* weights opened once against kept dealer masks (spin_static_new):
                         * each product then opens only its activations */
} vit_opts_t;

/* The model secret-shared by its owner (once per model load). */
typedef struct vit_shared_layer {
    spin_tensor_t *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;   /* split projections (fused_qkv = 0) */
    spin_tensor_t *in_w, *in_b, *out_w, *out_b, *l1_w, *l1_b, *l2_w, *l2_b, *n1_w, *n1_b, *n2_w, *n2_b;
    spin_static_t *sq_w, *sk_w, *sv_w, *sin_w, *sout_w, *sl1_w, *sl2_w; /* static_weights: NULL otherwise */
} vit_shared_layer_t;

typedef struct vit_shared {
    vit_cfg_t c;
    vit_opts_t o;
    int tokens;
    spin_tensor_t *pe_w, *pe_b, *tok;    /* tok [tokens*d]: CLS/position terms */
    spin_tensor_t *tok_embed;            /* token models: [vocab, d] (no pe_w, pe_b) */
    spin_tensor_t *norm_w, *norm_b, *head_w, *head_b;
    spin_static_t *spe_w, *stok_embed, *shead_w;  /* static_weights: NULL otherwise */
    vit_shared_layer_t *L;
} vit_shared_t;

/* The owner party holds m (others pass NULL); everyone passes the config. */
int vit_share(spin_ctx_t *ctx, const vit_t *m, const vit_cfg_t *c, int owner, const vit_opts_t *o,
              vit_shared_t *s);
void vit_shared_free(vit_shared_t *s);

/* The encoder layers (and the final norm) on token states z [B*T, d];
 * *z is replaced by the result. */
int vit_encode_secure(spin_ctx_t *ctx, const vit_shared_t *s, size_t B, spin_tensor_t **z);

/* Secure forward pass of B images held by the client party (others pass
 * NULL); the logits [B][classes] are revealed to the client only. */
int vit_forward_secure(spin_ctx_t *ctx, const vit_shared_t *s, int client, const uint8_t *img, size_t B,
                       double *logits);
/* The same for B sequences of token ids [B][seq] (each < vocab, checked by
 * the client): the client inputs them one-hot as integer shares [B*seq,
 * vocab], and one spin_matmul_raw with the shared embedding table picks
 * their rows (one round, exact). */
int vit_forward_secure_tokens(spin_ctx_t *ctx, const vit_shared_t *s, int client, const int32_t *ids, size_t B,
                              double *logits);

#endif
