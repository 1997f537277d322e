#!/usr/bin/python3
"""Generate the tiny reference token model of spin-infer (models/tokens-tiny).

Usage (from anywhere; Debian python3-torch + python3-numpy; only this script
needs torch, the C tests read the files it writes):
    /usr/bin/python3 models/tokens-tiny/make_model.py

A random (untrained) Transformer encoder classifier over token ids, made
with a fixed seed: nn.Embedding token embeddings + learned position
embeddings, 2 post-norm nn.TransformerEncoderLayer (batch_first=True, GeLU),
CLS pooling (the state of token 0; every sequence starts with the CLS id),
a Linear head.  Writes next to this script:
    config.json         architecture (the token kind: "vocab" and "seq")
    model.safetensors   weights, float32, PyTorch names
    tokens.txt          64 sequences of 16 ids, one per line
    tokens-u8.idx       the same ids as IDX ubyte [64, 16]
    tokens-i32.idx      the same ids as IDX int32 (big-endian) [64, 16]
    logits.safetensors  "logits" F64 [64, 4]: PyTorch's logits of tokens.txt
                        (the float32 weights, computed in float64), "pred" I64
The weights are scaled so that the logits are O(1); the sequences are drawn
until 64 have a top-2 logit margin of at least MARGIN, so that fixed-point
error (< 1e-2) cannot flip a prediction.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the model directories free of __pycache__
sys.path.insert(0, os.path.join(HERE, "..", "vit-fmnist"))
import safetensors_io  # noqa: E402

SEED = 0
COUNT = 64
MARGIN = 0.05
CLS_ID = 1          # id 0 is left unused (padding in BERT-style vocabularies)

CFG = {
    "layers": 2,
    "d_model": 32,
    "heads": 4,
    "ffn": 64,
    "activation": "gelu",
    "norm_first": False,
    "vocab": 50,
    "seq": 16,
    "classes": 4,
    "pool": "cls",
    "layer_norm_eps": 1e-05,
}


class TokenEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.tok_embed = nn.Embedding(cfg["vocab"], d)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg["seq"], d))
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(
                d, cfg["heads"], cfg["ffn"], dropout=0.0,
                activation=cfg["activation"], layer_norm_eps=cfg["layer_norm_eps"],
                batch_first=True, norm_first=cfg["norm_first"])
            for _ in range(cfg["layers"])])
        self.norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"]) if cfg["norm_first"] else None
        self.head = nn.Linear(d, cfg["classes"])
        self.pool = cfg["pool"]

    def forward(self, ids):
        z = self.tok_embed(ids) + self.pos_embed            # [B, L, d]
        for layer in self.layers:
            z = layer(z)
        if self.norm is not None:
            z = self.norm(z)
        h = z[:, 0] if self.pool == "cls" else z.mean(dim=1)
        return self.head(h)


def init_weights(model):
    """PyTorch's default initialisation, then: embeddings N(0, 0.5^2), position
    embeddings N(0, 0.2^2), every LayerNorm and every bias perturbed (so that
    no parameter is a trivial 1 or 0), the query rows of in_proj_weight doubled
    (sharper attention: the CLS state depends more on the other tokens), the
    head weights times 4 (logits of O(1))."""
    with torch.no_grad():
        nn.init.normal_(model.tok_embed.weight, std=0.5)
        nn.init.normal_(model.pos_embed, std=0.2)
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
        for layer in model.layers:
            layer.self_attn.in_proj_weight[:layer.self_attn.embed_dim].mul_(2.0)
        model.head.weight.mul_(4.0)


def centre_head(model, gen, n=2000):
    """Subtract the mean logits of n random sequences from head.bias: an
    untrained model otherwise predicts one class for almost everything (the
    CLS token is the same in every sequence)."""
    V, L = CFG["vocab"], CFG["seq"]
    ids = torch.randint(CLS_ID + 1, V, (n, L), generator=gen)
    ids[:, 0] = CLS_ID
    with torch.no_grad():
        model.head.bias.sub_(model.eval()(ids).mean(dim=0))


def write_idx(path, ids, type_code):
    dt = {0x08: ">u1", 0x0C: ">i4"}[type_code]
    with open(path, "wb") as f:
        f.write(bytes([0, 0, type_code, ids.ndim]))
        for n in ids.shape:
            f.write(struct.pack(">I", n))
        f.write(np.ascontiguousarray(ids, dtype=dt).tobytes())


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = TokenEncoder(CFG)
    init_weights(model)
    centre_head(model, torch.Generator().manual_seed(SEED + 2))
    # the stored weights are float32; the reference runs those exact values in float64
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    model = model.double().eval()

    gen = torch.Generator().manual_seed(SEED + 1)
    V, L = CFG["vocab"], CFG["seq"]
    seqs, logits, drawn = [], [], 0
    with torch.no_grad():
        while len(seqs) < COUNT:
            ids = torch.randint(CLS_ID + 1, V, (1, L), generator=gen)
            ids[0, 0] = CLS_ID
            drawn += 1
            out = model(ids)[0]
            top = torch.topk(out, 2).values
            if float(top[0] - top[1]) >= MARGIN:
                seqs.append(ids[0])
                logits.append(out)
    ids = torch.stack(seqs).numpy().astype(np.int64)
    logits = torch.stack(logits).numpy()
    pred = logits.argmax(axis=1)

    # the batched forward pass agrees with the one-at-a-time one
    with torch.no_grad():
        batched = model(torch.from_numpy(ids)).numpy()
    assert np.abs(batched - logits).max() < 1e-12

    safetensors_io.write(os.path.join(HERE, "model.safetensors"), sd, {"config": json.dumps(CFG)})
    with open(os.path.join(HERE, "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
        f.write("\n")
    with open(os.path.join(HERE, "tokens.txt"), "w") as f:
        for row in ids:
            f.write(" ".join(str(int(t)) for t in row) + "\n")
    write_idx(os.path.join(HERE, "tokens-u8.idx"), ids, 0x08)
    write_idx(os.path.join(HERE, "tokens-i32.idx"), ids, 0x0C)
    safetensors_io.write(os.path.join(HERE, "logits.safetensors"),
                         {"logits": logits, "pred": pred.astype(np.int64)})

    margins = np.sort(logits, axis=1)[:, -1] - np.sort(logits, axis=1)[:, -2]
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    print(f"parameters: {sum(v.size for v in sd.values())}")
    print(f"sequences: {COUNT} kept of {drawn} drawn (top-2 margin >= {MARGIN}); "
          f"smallest margin {margins.min():.4f}")
    print(f"|logits|: max {np.abs(logits).max():.3f}, std {logits.std():.3f}")
    print("predicted classes:", np.bincount(pred, minlength=CFG["classes"]).tolist())


if __name__ == "__main__":
    main()
