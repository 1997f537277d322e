#!/usr/bin/env python3
"""make_seeds.py - write the seed corpora of tests/fuzz/corpus/ (README.md).

Valid inputs made from the repository's own data (the tokens-tiny model's
IDX and safetensors files, models/*/config.json, tests/data's metrics
lines) plus small hand-made ones, and a few near misses of each format.
Run from anywhere: python3 tests/fuzz/make_seeds.py.  Deterministic: it
rewrites the same files; commit what changes.
"""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def repo(*p):
    with open(os.path.join(ROOT, *p), "rb") as f:
        return f.read()


# ---- idx -------------------------------------------------------------------

def idx(typ, dims, body):
    return bytes([0, 0, typ, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


def seeds_idx():
    put("idx", "tokens-u8.idx", repo("models", "tokens-tiny", "tokens-u8.idx"))
    put("idx", "tokens-i32.idx", repo("models", "tokens-tiny", "tokens-i32.idx"))
    labels = idx(8, [10], bytes(range(10)))
    images = idx(8, [2, 4, 4], bytes((i * 37) & 255 for i in range(32)))
    ints = idx(0x0C, [3], struct.pack(">3i", 1, -2, 70000))
    put("idx", "labels-10.idx", labels)
    put("idx", "images-2x4x4.idx", images)
    put("idx", "int-3.idx", ints)
    # mtime 0: the same bytes every time
    put("idx", "images-2x4x4.idx.gz", gzip.compress(images, mtime=0))
    put("idx", "labels-10.idx.gz", gzip.compress(labels, mtime=0))
    put("idx", "zero-dim.idx", idx(8, [0, 28, 28], b""))
    put("idx", "truncated.idx", labels[:-3])
    put("idx", "trailing.idx", labels + b"\x00")
    put("idx", "float-type.idx", idx(0x0D, [1], b"\x3f\x80\x00\x00"))
    put("idx", "eight-dims.idx", idx(8, [1] * 8, b"\x07"))


# ---- safetensors -------------------------------------------------------------

def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)]"""
    h, data = {}, b""
    if metadata is not None:
        h["__metadata__"] = metadata
    for name, dt, shape, b in tensors:
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    hj = json.dumps(h, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    return struct.pack("<Q", len(hj)) + hj + data


def seeds_safetensors():
    put("safetensors", "logits.safetensors", repo("models", "tokens-tiny", "logits.safetensors"))
    # a slice of tokens-tiny's model: the header's first tensors, shrunk, and their data
    m = repo("models", "tokens-tiny", "model.safetensors")
    n = struct.unpack("<Q", m[:8])[0]
    hdr = json.loads(m[8:8 + n])
    data = m[8 + n:]
    picked = []
    for name, t in list(hdr.items()):
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        b0, b1 = t["data_offsets"]
        cnt = (b1 - b0) // 4
        take = min(cnt, 32)
        picked.append((name, "F32", [take], data[b0:b0 + 4 * take]))
        if len(picked) == 4:
            break
    put("safetensors", "tokens-tiny-slice.safetensors",
        safetensors(picked, hdr.get("__metadata__", {"format": "pt"})))
    put("safetensors", "every-dtype.safetensors", safetensors([
        ("f64", "F64", [2], struct.pack("<2d", 1.5, -2.25)),
        ("f32", "F32", [1, 2], struct.pack("<2f", 0.5, 3.0)),
        ("f16", "F16", [2], struct.pack("<2H", 0x3C00, 0xC000)),
        ("bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0x4000)),
        ("i64", "I64", [1], struct.pack("<q", -7)),
        ("i32", "I32", [2, 1], struct.pack("<2i", 5, -5)),
        ("u8", "U8", [3], bytes([0, 128, 255])),
        ("scalar", "F32", [], struct.pack("<f", 42.0)),
        ("empty", "F32", [0, 4], b""),
    ], {"format": "pt", "producer": "spin-train"}))
    put("safetensors", "empty.safetensors", safetensors([]))
    good = safetensors([("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))])
    put("safetensors", "offsets-past-end.safetensors", good[:-4])
    put("safetensors", "header-too-long.safetensors", struct.pack("<Q", 1 << 40) + good[8:])
    put("safetensors", "unknown-dtype.safetensors",
        safetensors([("w", "F8_E4M3", [2], b"\x00\x01")]))


# ---- json ------------------------------------------------------------------

def seeds_json():
    put("json", "tokens-tiny-config.json", repo("models", "tokens-tiny", "config.json"))
    put("json", "vit-fmnist-config.json", repo("models", "vit-fmnist", "config.json"))
    seen = set()
    for line in repo("tests", "data", "metrics-sample.jsonl").splitlines():
        kind = json.loads(line)["type"]
        if kind in seen:
            continue
        seen.add(kind)
        put("json", "metrics-%s.json" % kind, line)
    m = repo("models", "tokens-tiny", "model.safetensors")
    n = struct.unpack("<Q", m[:8])[0]
    put("json", "safetensors-header.json", m[8:8 + n].rstrip(b" ")[:1200].rsplit(b"},", 1)[0] + b"}}")
    put("json", "strings.json",
        '["a\\"b\\\\c\\/d\\b\\f\\n\\r\\t", "\\u00e9\\u4e2d\\ud83d\\ude00", "é中😀", ""]'.encode())
    put("json", "numbers.json", b"[0, -0, 1.5e300, -2E-300, 123456789012345678, 0.1, 1e0]")
    put("json", "nested.json", b'{"a": {"b": [[], {}, [null, true, false]]}, "a": 1}')
    put("json", "deep.json", b"[" * 64 + b"]" * 64)
    put("json", "too-deep.json", b"[" * 65 + b"]" * 65)
    put("json", "bad-escape.json", b'"\\u12"')
    put("json", "trailing.json", b'{"x": 1} {"y": 2}')


# ---- ckpt ------------------------------------------------------------------

def ckpt(model=b"lenet", nparties=0, party=0, f=16, seed=7, batch=64, epoch=3, it=17, state=b"\x11" * 16):
    h = struct.pack("<8s16s4I4Q3d", b"SPINCKP1", model, nparties, party, f, 0, seed, batch, epoch, it,
                    0.01, 0.9, 0.0)
    assert len(h) == 96
    return h + state + b"SPINEND1"


def seeds_ckpt():
    put("ckpt", "resumable.ckpt", ckpt())
    put("ckpt", "epoch0.ckpt", ckpt(epoch=0, it=0))
    put("ckpt", "incomplete.ckpt", ckpt()[:-8])
    put("ckpt", "other-model.ckpt", ckpt(model=b"secureml"))
    put("ckpt", "other-seed.ckpt", ckpt(seed=8))
    put("ckpt", "short-state.ckpt", ckpt(state=b"\x11" * 4))


# ---- dealer_req ---------------------------------------------------------------

MUL, SQUARE, MATMUL, CONV, CONV_DX, CONV_DW, TRUNC = 1, 2, 3, 4, 5, 6, 7
AND, EDABIT, DABIT, STATIC_MASK, MATMUL_STATIC = 8, 9, 10, 11, 12


def req(kind, nonce=0, **p):
    """p: words by index (p0..p23) or the bilinear names."""
    names = ["batch", "m", "n", "k", "ta", "tb", "ba", "bb", "cn", "cc", "ch", "cw", "oc", "kh",
             "kw", "sh", "sw", "ph", "pw"]
    w = [0] * 24
    for key, v in p.items():
        w[names.index(key) if key in names else int(key[1:])] = v
    return struct.pack("<2Q24Q", kind, nonce, *w)


def seeds_dealer():
    put("dealer_req", "mul.req", req(MUL, 0, m=100))
    put("dealer_req", "square.req", req(SQUARE, 1, m=64))
    put("dealer_req", "matmul.req", req(MATMUL, 2, batch=2, m=3, n=4, k=5, ba=2, bb=1))
    put("dealer_req", "matmul-t.req", req(MATMUL, 3, batch=1, m=128, n=10, k=84, ta=1, ba=1, bb=1))
    lenet = dict(cn=8, cc=1, ch=28, cw=28, oc=6, kh=5, kw=5, sh=1, sw=1, ph=2, pw=2)
    put("dealer_req", "conv.req", req(CONV, 4, **lenet))
    put("dealer_req", "conv-dx.req", req(CONV_DX, 5, **lenet))
    put("dealer_req", "conv-dw.req", req(CONV_DW, 6, **lenet))
    put("dealer_req", "conv-stride2.req",
        req(CONV, 7, cn=2, cc=3, ch=9, cw=7, oc=4, kh=3, kw=3, sh=2, sw=2, ph=0, pw=1))
    put("dealer_req", "trunc.req", req(TRUNC, 8, p0=1000, p1=16))
    put("dealer_req", "and.req", req(AND, 9, p0=2, p1=640, p2=64, p3=10, p4=0))
    put("dealer_req", "edabit.req", req(EDABIT, 10, p0=1000, p1=1))
    put("dealer_req", "dabit.req", req(DABIT, 11, p0=1000, p1=1))
    put("dealer_req", "static-mask.req", req(STATIC_MASK, 12, p0=840))
    # a static matmul against mask 12 (840 = 84 x 10 words), then the mask's size
    put("dealer_req", "matmul-static.req",
        req(MATMUL_STATIC, 13, batch=1, m=128, n=10, k=84, ba=1, bb=1, p19=12) + struct.pack("<Q", 840))
    put("dealer_req", "bye.req", req(0xFF, 14))


# ---- hello -------------------------------------------------------------------

SOCK_MAGIC, TCP_MAGIC, FP = 0x534E5053, 0x4E495053, 0x0102000210ABCDEF


def hello(magic, typ, version, status, party, n, fp, me, expect):
    m = struct.pack("<I4B2IQ", magic, typ, version, status, 0, party, n, fp)
    return m + bytes([me, n - 2]) + struct.pack("<Q", fp) + bytes([expect, version])


def seeds_hello():
    put("hello", "sock-party1-to-0", hello(SOCK_MAGIC, 1, 1, 0, 1, 2, FP, 0, 0xFF))
    put("hello", "tcp-ack-from-0", hello(TCP_MAGIC, 2, 1, 0, 0, 3, FP, 1, 0))
    put("hello", "other-fingerprint", hello(TCP_MAGIC, 1, 1, 0, 2, 3, FP ^ 0x10, 0, 0xFF)[:26]
        + struct.pack("<Q", FP) + bytes([0xFF, 1]))
    put("hello", "refused-nparties", hello(SOCK_MAGIC, 1, 1, 1, 0, 4, FP, 1, 0))
    put("hello", "wrong-identity", hello(SOCK_MAGIC, 1, 1, 0, 0, 2, FP, 1, 0xFF))


# ---- sock_rx -------------------------------------------------------------------

SPND = 0x444E5053


def sock_msg(tag, seq, payload, length=None):
    return struct.pack("<IIQQ", tag, SPND, seq, len(payload) if length is None else length) + payload


def sock_in(npre, npost, step, recvs, stream):
    b = bytes([npre | npost << 4, step])
    for tag, ln in recvs:
        b += bytes([tag]) + struct.pack("<I", ln)[:3]
    return b + stream


def seeds_sock():
    two = sock_msg(5, 0, b"hello") + sock_msg(6, 1, b"")
    put("sock_rx", "posted", sock_in(2, 0, 0, [(5, 5), (6, 0)], two))
    put("sock_rx", "early", sock_in(0, 2, 0, [(5, 5), (6, 0)], two))
    put("sock_rx", "split", sock_in(1, 1, 7, [(5, 5), (6, 0)], two))
    put("sock_rx", "mismatch", sock_in(1, 1, 0, [(9, 5), (6, 1)], two))
    put("sock_rx", "bad-mark", sock_in(1, 1, 0, [(5, 5), (6, 0)],
                                       sock_msg(5, 0, b"hello") + b"\x06\0\0\0XXXX" + bytes(16)))
    big = bytes(range(256)) * 36  # 9216 bytes: read straight into the receive
    put("sock_rx", "direct", sock_in(1, 0, 0, [(1, len(big))], sock_msg(1, 0, big)))
    put("sock_rx", "header-alone", sock_in(1, 0, 0, [(2, 100000)], sock_msg(2, 0, b"abc", 100000)))
    put("sock_rx", "partial-early", sock_in(0, 1, 3, [(3, 40)], sock_msg(3, 0, b"x" * 20, 40)))


# ---- tcp_rx --------------------------------------------------------------------

TCP_DATA, TCP_HELLO, TCP_ACK = 3, 1, 2
TCP_FP = 0x5350494E46555A5A


def tcp_hdr(typ, flags=0, tag=0, seq=0, length=0):
    return struct.pack("<I4BI4xQQ", TCP_MAGIC, typ, 1, flags, 0, tag, seq, length)


def frame(data, router=False, more=False):
    return bytes([(1 if router else 0) | (2 if more else 0)]) + struct.pack("<H", len(data)) + data


POST = bytes([4])


def tcp_in(flags, recvs, records):
    b = bytes([flags, len(recvs)])
    for peer, tag, ln in recvs:
        b += bytes([1 if peer == 2 else 0, tag]) + struct.pack("<H", ln)
    return b + b"".join(records)


def seeds_tcp():
    d0 = tcp_hdr(TCP_DATA, 0, 7, 0, 5) + b"hello"
    put("tcp_rx", "dealer-inline", tcp_in(3, [(0, 7, 5)], [POST, frame(d0)]))
    put("tcp_rx", "dealer-early", tcp_in(3, [(0, 7, 5)], [frame(d0), POST]))
    put("tcp_rx", "router-inline", tcp_in(3, [(2, 7, 5)], [POST, frame(b"spin2", True, True),
                                                           frame(d0, True)]))
    ch = tcp_hdr(TCP_DATA, 1, 8, 0, 6)
    put("tcp_rx", "dealer-chunked", tcp_in(3, [(0, 8, 6)], [POST, frame(ch), frame(b"abc"),
                                                            frame(b"def")]))
    put("tcp_rx", "early-chunked", tcp_in(3, [(0, 8, 6)], [frame(ch), frame(b"abc"), POST,
                                                           frame(b"def")]))
    put("tcp_rx", "bad-chunk", tcp_in(3, [(0, 8, 6), (0, 9, 0)], [POST, frame(ch), frame(b"abcdefg"),
                                                                  POST]))
    put("tcp_rx", "ack-brings-up", tcp_in(2, [(0, 7, 5)], [
        frame(struct.pack("<I4B2IQ", TCP_MAGIC, TCP_ACK, 1, 0, 0, 0, 3, TCP_FP) + bytes(8)),
        POST, frame(d0)]))
    put("tcp_rx", "hello-on-router", tcp_in(1, [], [
        frame(b"spin2", True, True),
        frame(struct.pack("<I4B2IQ", TCP_MAGIC, TCP_HELLO, 1, 0, 0, 2, 3, TCP_FP) + bytes(8), True)]))
    put("tcp_rx", "three-frames", tcp_in(3, [(2, 7, 5)], [POST, frame(b"spin2", True, True),
                                                          frame(d0, True, True), frame(b"x", True)]))


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    seeds_idx()
    seeds_safetensors()
    seeds_json()
    seeds_ckpt()
    seeds_dealer()
    seeds_hello()
    seeds_sock()
    seeds_tcp()
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(CORPUS) for f in fs)
    print("make_seeds.py: %d bytes in %s" % (total, CORPUS))


if __name__ == "__main__":
    main()
