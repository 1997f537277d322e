#!/usr/bin/python3
"""Train the reference ViT-style encoder for Spin on Fashion-MNIST.

Usage (from the repository root, Debian python3-torch + python3-numpy):
    /usr/bin/python3 models/vit-fmnist/train.py

Reads the gzipped IDX files of Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist, override with --data), trains on one CPU
thread with fixed seeds, and writes next to this script:
    model.safetensors   weights (float32, PyTorch names)
    config.json         architecture / preprocessing
    logits.safetensors  PyTorch logits, labels and predictions of the first
                        256 test images
    README.md           results, architecture, exact forward equations
Only this script needs torch; forward_ref.py re-implements the forward pass in
numpy and safetensors_io.py reads/writes the files without torch.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep the model directory free of __pycache__
import safetensors_io  # noqa: E402

SUBSET = 256


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    assert (magic >> 8) == 0x08, "expected unsigned byte IDX"
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def patchify(x, patch):
    """x: [B, H, W] -> [B, (H/p)*(W/p), p*p]; patches row-major over the grid,
    pixels row-major inside a patch."""
    b, h, w = x.shape
    g, gw = h // patch, w // patch
    x = x.reshape(b, g, patch, gw, patch).permute(0, 1, 3, 2, 4)
    return x.reshape(b, g * gw, patch * patch)


class ViT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        p = cfg["patch"]
        n = (cfg["image"] // p) ** 2
        self.patch = p
        self.patch_embed = nn.Linear(cfg["channels"] * p * p, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, d))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(
                d, cfg["heads"], cfg["ffn"], dropout=0.0,
                activation=cfg["activation"], layer_norm_eps=cfg["layer_norm_eps"],
                batch_first=True, norm_first=cfg["norm_first"])
            for _ in range(cfg["layers"])])
        self.norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"]) if cfg["norm_first"] else None
        self.head = nn.Linear(d, cfg["classes"])
        self.pool = cfg["pool"]

    def forward(self, x):
        # x: [B, 28, 28] float, already normalised
        t = self.patch_embed(patchify(x, self.patch))            # [B, 16, d]
        cls = self.cls_token.expand(t.shape[0], -1, -1)           # [B, 1, d]
        z = torch.cat([cls, t], dim=1) + self.pos_embed          # [B, 17, d]
        for layer in self.layers:
            z = layer(z)
        if self.norm is not None:
            z = self.norm(z)
        h = z[:, 0] if self.pool == "cls" else z.mean(dim=1)
        return self.head(h)


def evaluate(model, x, bs=1000):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            out.append(model(x[i:i + bs]))
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0, help="debug: stop early")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)

    cfg = {
        "layers": 2, "d_model": 64, "heads": 4, "ffn": 128,
        "activation": "gelu", "norm_first": True,
        "patch": 7, "image": 28, "channels": 1, "classes": 10,
        "pool": "cls", "layer_norm_eps": 1e-5,
        # fixed constants (close to the Fashion-MNIST training-set statistics
        # of x/255: mean 0.28604, std 0.35302)
        "input_normalisation": {"mean": 0.2860, "std": 0.3530},
    }
    mean = cfg["input_normalisation"]["mean"]
    std = cfg["input_normalisation"]["std"]

    d = args.data
    xtr = load_idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    ytr = load_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    xte = load_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    yte = load_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    print(f"train {xtr.shape} test {xte.shape}; train stats of x/255: "
          f"mean {xtr.mean() / 255:.5f} std {(xtr / 255.0).std():.5f}", flush=True)

    def prep(x):
        return ((torch.from_numpy(x.astype(np.float32)) / 255.0) - mean) / std

    Xtr, Ytr = prep(xtr), torch.from_numpy(ytr.astype(np.int64))
    Xte, Yte = prep(xte), torch.from_numpy(yte.astype(np.int64))

    model = ViT(cfg)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"parameters: {nparams}", flush=True)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embed" not in n and "cls" not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999))
    steps_per_epoch = Xtr.shape[0] // args.batch
    total = steps_per_epoch * args.epochs
    warm = steps_per_epoch

    def lr_at(s):
        if s < warm:
            return args.lr * (s + 1) / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm)))

    t0 = time.time()
    step = 0
    log = []
    for ep in range(args.epochs):
        model.train()
        perm = rng.permutation(Xtr.shape[0])
        flip = rng.random(Xtr.shape[0]) < 0.5   # random horizontal flip
        tot_loss, n_seen = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            xb = Xtr[idx].clone()
            fb = torch.from_numpy(flip[idx])
            xb[fb] = xb[fb].flip(-1)
            yb = Ytr[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tot_loss += loss.item() * len(idx)
            n_seen += len(idx)
            if args.max_steps and step >= args.max_steps:
                break
        acc = (evaluate(model, Xte).argmax(1) == Yte).float().mean().item()
        el = time.time() - t0
        log.append((ep + 1, tot_loss / n_seen, acc, el))
        print(f"epoch {ep + 1:2d}  loss {tot_loss / n_seen:.4f}  test acc {acc * 100:.2f}%  "
              f"({el:.0f} s)", flush=True)
        if args.max_steps and step >= args.max_steps:
            break
    train_time = time.time() - t0

    # ---- outputs ----------------------------------------------------------
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    meta = {"format": "pt", "model": "vit-fmnist", "config": json.dumps(cfg, sort_keys=True)}
    mpath = os.path.join(args.out, "model.safetensors")
    safetensors_io.write(mpath, sd, meta)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    # reader check: reload and compare; the reloaded weights must give the same logits
    back, bmeta = safetensors_io.read(mpath)
    assert list(back) == list(sd), "tensor names/order differ"
    for k in sd:
        assert back[k].shape == sd[k].shape and back[k].dtype == np.float32, k
        assert np.array_equal(back[k], sd[k]), k
    assert json.loads(bmeta["config"]) == cfg
    model2 = ViT(cfg)
    model2.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()})
    model2.eval()

    logits_all = evaluate(model, Xte)
    full_acc = (logits_all.argmax(1) == Yte).float().mean().item()
    with torch.no_grad():
        logits = model(Xte[:SUBSET])
        # the same through the non-fused (grad-enabled) path of TransformerEncoderLayer
    logits_slow = model2(Xte[:SUBSET]).detach()
    diff_paths = (logits - logits_slow).abs().max().item()
    assert diff_paths < 1e-4, diff_paths
    pred = logits.argmax(1)
    sub_acc = (pred == Yte[:SUBSET]).float().mean().item()
    lpath = os.path.join(args.out, "logits.safetensors")
    safetensors_io.write(lpath, {
        "logits": logits.numpy().astype(np.float32),
        "labels": Yte[:SUBSET].numpy().astype(np.int64),
        "pred": pred.numpy().astype(np.int64),
    }, {"subset": f"first {SUBSET} images of t10k", "accuracy": f"{sub_acc:.6f}"})
    lback, _ = safetensors_io.read(lpath)
    assert np.array_equal(lback["logits"], logits.numpy())
    print(f"reader check ok; fused vs non-fused path max |diff| {diff_paths:.3g}")
    print(f"final test accuracy {full_acc * 100:.2f}% (10000 images), "
          f"subset accuracy {sub_acc * 100:.2f}% (first {SUBSET}), "
          f"training time {train_time:.0f} s", flush=True)

    # numpy float64 re-implementation of the documented equations (forward_ref.py)
    import forward_ref
    u = load_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))[:SUBSET]
    ref = forward_ref.forward({k: v.astype(np.float64) for k, v in back.items()}, cfg, u)
    refdiff = float(np.abs(ref - logits.numpy().astype(np.float64)).max())
    refsame = int((ref.argmax(1) == pred.numpy()).sum())
    print(f"forward_ref.py (numpy float64): max |diff| {refdiff:.3e}, "
          f"same predictions {refsame}/{SUBSET}", flush=True)
    assert refdiff < 1e-4, refdiff

    write_readme(args, cfg, sd, nparams, log, full_acc, sub_acc, train_time, refdiff, refsame)


def write_readme(args, cfg, sd, nparams, log, full_acc, sub_acc, train_time, refdiff, refsame):
    rows = "\n".join(f"| `{k}` | [{', '.join(str(s) for s in v.shape)}] |" for k, v in sd.items())
    eps = "\n".join(f"| {e} | {l:.4f} | {a * 100:.2f}% | {t:.0f} |" for e, l, a, t in log)
    cmdline = "/usr/bin/python3 models/vit-fmnist/train.py"
    extra = []
    for name, default in (("epochs", 30), ("batch", 128), ("lr", 2e-3), ("wd", 0.05),
                          ("seed", 0), ("threads", 1)):
        if getattr(args, name) != default:
            extra.append(f"--{name} {getattr(args, name)}")
    if extra:
        cmdline += " " + " ".join(extra)
    text = README.format(
        cmd=cmdline, torch=torch.__version__, numpy=np.__version__,
        full=full_acc * 100, sub=sub_acc * 100, n=SUBSET, time=train_time,
        epochs=args.epochs, batch=args.batch, lr=args.lr, wd=args.wd, seed=args.seed,
        nparams=nparams, rows=rows, log=eps, cfg=json.dumps(cfg, indent=2),
        mean=cfg["input_normalisation"]["mean"], std=cfg["input_normalisation"]["std"],
        eps=cfg["layer_norm_eps"], refdiff=refdiff, refsame=refsame)
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(text)


README = r"""# vit-fmnist: reference Transformer encoder for `spin-infer`

A small ViT-style encoder (2 pre-norm `nn.TransformerEncoderLayer`s, d_model 64,
4 heads, FFN 128, GeLU) on Fashion-MNIST with 7x7 patches. Its weights use the
PyTorch names of `nn.TransformerEncoderLayer`, so the secure forward pass of
`spin-infer` can be checked against the plaintext PyTorch logits stored here.
*This file is generated by `train.py`.*

## Results

| | |
| --- | --- |
| test accuracy, full test set (10000 images) | **{full:.2f}%** |
| test accuracy, fixed subset (first {n} test images) | **{sub:.2f}%** |
| training time (1 CPU thread) | {time:.0f} s |
| parameters | {nparams} (float32) |
| torch / numpy | {torch} / {numpy} |

Reproduce (Debian packages `python3-torch python3-numpy dataset-fashion-mnist`;
deterministic: fixed seed {seed}, one thread, `torch.use_deterministic_algorithms`):

    {cmd}

Training: AdamW (betas 0.9/0.999, weight decay {wd} on weight matrices only, none on
biases, LayerNorm, embeddings, CLS), peak lr {lr}, one epoch linear warm-up then cosine
to 0, batch {batch}, {epochs} epochs, gradient-norm clipping 1.0, random horizontal flips,
no dropout.

| epoch | train loss | test acc | elapsed s |
| --- | --- | --- | --- |
{log}

Check the documented equations without torch (numpy only, float64; Debian
`python3-numpy`): max |logits - PyTorch logits| over the {n} stored images = {refdiff:.2e}
(tolerance 1e-4), predictions identical {refsame}/{n}.

    /usr/bin/python3 models/vit-fmnist/forward_ref.py

## Files

| file | contents |
| --- | --- |
| `model.safetensors` | all weights, float32, names as below; `__metadata__.config` repeats config.json |
| `config.json` | architecture and input normalisation |
| `logits.safetensors` | `logits` F32 [{n}, 10] (PyTorch, eval mode), `labels` I64 [{n}], `pred` I64 [{n}] (argmax of `logits`) for the first {n} images of `t10k-images-idx3-ubyte` |
| `train.py` | training + export (needs torch) |
| `forward_ref.py` | numpy float64 forward pass from the files above; compares with `logits.safetensors` |
| `safetensors_io.py` | safetensors reader/writer (no `safetensors` package) |

safetensors layout: 8-byte little-endian header length N, then N bytes of JSON
(`{{name: {{"dtype", "shape", "data_offsets": [begin, end]}}, "__metadata__": {{...}}}}`,
padded with spaces so that 8+N is a multiple of 8), then the raw little-endian data;
offsets are relative to the first byte after the header. All tensors are row-major
(C order), as in PyTorch.

## config.json

```json
{cfg}
```

## Tensors

Patch embedding is an `nn.Linear(49, 64)` applied to flattened patches (not a Conv2d;
`patch_embed.weight` [64, 49] equals a Conv2d kernel [64, 1, 7, 7] reshaped).
`L` = 2 layers, `N` in {{0, 1}}.

| name | shape |
| --- | --- |
{rows}

## Forward computation (exact)

Notation: d = 64, H = 4 heads, d_h = d/H = 16, F = 128, P = 7, G = 28/P = 4,
T = G*G + 1 = 17 tokens, eps = {eps}. Every `Linear(W, b)` computes `y = x W^T + b`
with W of shape [out, in]. Tokens are rows; everything below is per image.

1. **Input scaling.** The raw IDX byte image `u[r][c]` (r = row 0..27, c = column 0..27,
   in file order) becomes `x[r][c] = (u[r][c] / 255 - {mean}) / {std}`.

2. **Patches.** Patch index `p = 4*i + j` for grid row `i` and grid column `j`
   (i, j in 0..3, row-major over the 4x4 grid). Inside a patch, pixel index
   `k = 7*a + b` (a, b in 0..6, row-major): `X[p][k] = x[7*i + a][7*j + b]`. X is [16, 49].

3. **Embedding.** `E = X patch_embed.weight^T + patch_embed.bias` ([16, 64]).
   Token matrix `Z0` [17, 64]: row 0 is `cls_token[0,0,:]`, rows 1..16 are `E[0..15]`
   (patch p at token p+1). Then `Z0 = Z0 + pos_embed[0]` (position embedding added
   to all 17 tokens, CLS included, after the concatenation).

4. **Encoder layers** (`norm_first=True`, pre-norm; dropout 0), for N = 0, 1:

       Y   = LN(Z; norm1)
       Z'  = Z + MHA(Y)
       Z'' = Z' + FFN(LN(Z'; norm2))      (Z'' is the Z of the next layer / of step 5)

   with `LN(z; g, beta)_t = (z_t - mu_t) / sqrt(var_t + eps) * g + beta` per token row t,
   where `mu_t` is the mean over the 64 features and `var_t` the biased variance
   (divide by 64); eps inside the square root.

   **MHA**: `W = self_attn.in_proj_weight` [192, 64], `c = self_attn.in_proj_bias` [192]:
   `Q = Y W[0:64]^T + c[0:64]`, `K = Y W[64:128]^T + c[64:128]`, `V = Y W[128:192]^T + c[128:192]`
   (each [17, 64]). Head h (0..3) uses columns `16h .. 16h+15` of Q, K, V:
   `A_h = softmax_rows(Q_h K_h^T / sqrt(16))` ([17, 17], softmax over the key index, no mask),
   `O_h = A_h V_h` ([17, 16]); `O = [O_0 | O_1 | O_2 | O_3]` ([17, 64], head h in columns
   16h..16h+15); `MHA(Y) = O out_proj.weight^T + out_proj.bias`.

   **FFN**: `FFN(y) = GELU(y linear1.weight^T + linear1.bias) linear2.weight^T + linear2.bias`
   (linear1 [128, 64], linear2 [64, 128]), with the exact GeLU
   `GELU(v) = 0.5 * v * (1 + erf(v / sqrt(2)))` (not the tanh approximation).

5. **Final norm and head.** `Zf = LN(Z; norm)` (eps as above), pool = `cls`: take
   token row 0, `logits = Zf[0] head.weight^T + head.bias` ([10]). The prediction
   is argmax (first maximum on ties). Class order is that of the IDX labels
   (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
   7 Sneaker, 8 Bag, 9 Ankle boot).

Only row 0 of the final layer's output is used, so a secure implementation may compute
the last layer's FFN (and norm) for the CLS row only; attention in the last layer still
needs K and V of all 17 tokens.
"""

if __name__ == "__main__":
    main()
