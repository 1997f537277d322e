/* train_model.h - the networks spin-train knows, as layer lists shared by
 * the secure engine (train_secure.c) and the float64 reference engine
 * (train_plain.c), and PyTorch-default initialisation from a seed. */
#ifndef SPIN_TRAIN_MODEL_H
#define SPIN_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    L_CONV,      /* Conv2d(in_c, out_c, k, stride, pad), bias */
    L_LINEAR,    /* Linear(in_f, out_f), bias */
    L_RELU,
    L_MAXPOOL,   /* MaxPool2d(k, stride, pad) */
    L_AVGPOOL,   /* AvgPool2d(k, stride, pad) */
    L_FLATTEN,
    L_BN         /* BatchNorm2d(in_c): weight (gamma) and bias (beta) trained,
                  * running_mean / running_var kept (eps BN_EPS, momentum
                  * BN_MOMENTUM); training batches use the batch statistics,
                  * prediction the running ones */
} lkind_t;

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

typedef struct layer_spec {
    lkind_t kind;
    char name[24];          /* PyTorch-style prefix of its parameters */
    size_t in_c, out_c;     /* conv channels; linear in/out features */
    size_t k, stride, pad;  /* conv and pool */
    /* per-sample shapes: (c, h, w) for 3-d, (f) for 1-d */
    int in_nd, out_nd;
    size_t in[3], out[3];
} layer_spec_t;

#define MODEL_MAX_LAYERS 48

typedef struct model_spec {
    char name[16];
    int nl;
    layer_spec_t L[MODEL_MAX_LAYERS];
    size_t classes;
} model_spec_t;

/* Build a named model ("secureml", "lenet", "alexnet", "vgg16") for
 * 1x28x28 input; 0 or -1 with msg filled. */
int model_build(const char *name, model_spec_t *m, char *msg, size_t msglen);
/* Names of the known models, comma separated. */
const char *model_names(void);
/* Does the layer have parameters (weight and bias)?  BatchNorm: gamma and
 * beta, [in_c] each. */
int layer_has_params(const layer_spec_t *l);
/* Does the layer keep running statistics (BatchNorm: running_mean and
 * running_var, [in_c] each, not trained; initially 0 and 1)? */
int layer_has_stats(const layer_spec_t *l);
/* Sizes of a layer's weight (PyTorch layout) and bias. */
size_t layer_wsize(const layer_spec_t *l);
size_t layer_bsize(const layer_spec_t *l);
/* Weight shape: [out, in], [out_c, in_c, k, k] or [in_c] (BatchNorm);
 * returns the rank. */
int layer_wshape(const layer_spec_t *l, size_t shape[4]);
/* Elements of a per-sample shape. */
size_t shape_elems(int nd, const size_t *s);

/* PyTorch's default initialisation (kaiming_uniform(a = sqrt 5) for the
 * weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias), drawn from a
 * splitmix64 stream seeded with `seed`, layer by layer in order, into
 * the caller's arrays w[i] (layer_wsize) and b[i] (layer_bsize);
 * BatchNorm: weight 1, bias 0 (nothing drawn). */
void model_init(const model_spec_t *m, uint64_t seed, double **w, double **b);

/* splitmix64 and a Fisher-Yates permutation from it (the batch order). */
uint64_t train_rand64(uint64_t *s);
void train_permutation(uint64_t seed, size_t n, size_t *perm);

#endif
