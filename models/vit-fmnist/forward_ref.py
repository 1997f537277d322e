#!/usr/bin/python3
"""numpy-only (no torch) float64 re-implementation of the vit-fmnist forward pass.

Reads model.safetensors + config.json, runs the first 256 Fashion-MNIST test images
through the equations documented in README.md and compares with the PyTorch logits in
logits.safetensors. Exits non-zero if the max |difference| exceeds --tol (1e-4).

    /usr/bin/python3 models/vit-fmnist/forward_ref.py [--data /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep the model directory free of __pycache__
import safetensors_io  # noqa: E402

_erf = np.frompyfunc(math.erf, 1, 1)


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def layer_norm(z, g, b, eps):
    mu = z.mean(axis=-1, keepdims=True)
    var = ((z - mu) ** 2).mean(axis=-1, keepdims=True)      # biased variance
    return (z - mu) / np.sqrt(var + eps) * g + b


def gelu(v):
    return 0.5 * v * (1.0 + _erf(v / math.sqrt(2.0)).astype(np.float64))


def softmax(s):
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def forward(w, cfg, u):
    """u: uint8 [B, 28, 28] -> float64 logits [B, classes]."""
    d, nh, p = cfg["d_model"], cfg["heads"], cfg["patch"]
    dh = d // nh
    g = cfg["image"] // p
    eps = cfg["layer_norm_eps"]
    mean = cfg["input_normalisation"]["mean"]
    std = cfg["input_normalisation"]["std"]
    B = u.shape[0]

    # 1. input scaling
    x = (u.astype(np.float64) / 255.0 - mean) / std
    # 2. patches: X[b, 4*i+j, 7*a+c] = x[b, 7*i+a, 7*j+c]
    X = np.empty((B, g * g, p * p))
    for i in range(g):
        for j in range(g):
            X[:, g * i + j, :] = x[:, p * i:p * (i + 1), p * j:p * (j + 1)].reshape(B, p * p)
    # 3. embedding, CLS at token 0, position embedding added to all tokens
    E = X @ w["patch_embed.weight"].T + w["patch_embed.bias"]
    cls = np.broadcast_to(w["cls_token"].reshape(1, 1, d), (B, 1, d))
    Z = np.concatenate([cls, E], axis=1) + w["pos_embed"].reshape(1, g * g + 1, d)
    T = Z.shape[1]

    # 4. pre-norm encoder layers
    for n in range(cfg["layers"]):
        pre = f"layers.{n}."
        assert cfg["norm_first"]
        Y = layer_norm(Z, w[pre + "norm1.weight"], w[pre + "norm1.bias"], eps)
        Wi, bi = w[pre + "self_attn.in_proj_weight"], w[pre + "self_attn.in_proj_bias"]
        Q = Y @ Wi[0:d].T + bi[0:d]
        K = Y @ Wi[d:2 * d].T + bi[d:2 * d]
        V = Y @ Wi[2 * d:3 * d].T + bi[2 * d:3 * d]
        O = np.empty((B, T, d))
        for h in range(nh):
            sl = slice(h * dh, (h + 1) * dh)
            A = softmax(Q[:, :, sl] @ K[:, :, sl].transpose(0, 2, 1) / math.sqrt(dh))
            O[:, :, sl] = A @ V[:, :, sl]
        Z = Z + O @ w[pre + "self_attn.out_proj.weight"].T + w[pre + "self_attn.out_proj.bias"]
        Y = layer_norm(Z, w[pre + "norm2.weight"], w[pre + "norm2.bias"], eps)
        Hd = Y @ w[pre + "linear1.weight"].T + w[pre + "linear1.bias"]
        if cfg["activation"] == "gelu":
            Hd = gelu(Hd)
        else:
            Hd = np.maximum(Hd, 0.0)
        Z = Z + Hd @ w[pre + "linear2.weight"].T + w[pre + "linear2.bias"]

    # 5. final norm, pooling, head
    Z = layer_norm(Z, w["norm.weight"], w["norm.bias"], eps)
    h = Z[:, 0] if cfg["pool"] == "cls" else Z.mean(axis=1)
    return h @ w["head.weight"].T + w["head.bias"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--dir", default=HERE)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    with open(os.path.join(args.dir, "config.json")) as f:
        cfg = json.load(f)
    w32, _ = safetensors_io.read(os.path.join(args.dir, "model.safetensors"))
    w = {k: v.astype(np.float64) for k, v in w32.items()}
    ref, meta = safetensors_io.read(os.path.join(args.dir, "logits.safetensors"))
    n = ref["logits"].shape[0]
    u = load_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))[:n]
    y = load_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))[:n]
    assert np.array_equal(y.astype(np.int64), ref["labels"].astype(np.int64)), "labels differ"

    logits = forward(w, cfg, u)
    diff = np.abs(logits - ref["logits"].astype(np.float64)).max()
    pred = logits.argmax(axis=1)
    same = int((pred == ref["pred"]).sum())
    acc = float((pred == y).mean())
    print(f"{n} images: max |logits - pytorch| = {diff:.3e}; "
          f"predictions equal {same}/{n}; accuracy {acc * 100:.2f}%")
    if not diff <= args.tol:
        print(f"FAIL: difference above {args.tol}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
