"""Minimal safetensors reader/writer in pure Python + numpy (no `safetensors` package).

File layout (https://github.com/huggingface/safetensors, format section):
  8 bytes   little-endian uint64 N = length of the JSON header
  N bytes   UTF-8 JSON: {name: {"dtype": "F32"|"I64"|..., "shape": [...],
                                "data_offsets": [begin, end]}, ...,
                          "__metadata__": {str: str}}
            padded with spaces so that 8 + N is a multiple of 8
  rest      raw little-endian tensor data; offsets are relative to the start of
            this data block. Tensors are laid out in the order of the header keys.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def write(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (written in insertion order)."""
    header = {}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        dt = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        if dt not in _NAMES:
            raise ValueError(f"unsupported dtype {arr.dtype} for {name}")
        raw = np.ascontiguousarray(arr, dtype=dt).tobytes()
        header[name] = {"dtype": _NAMES[dt], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read(path):
    """Returns (dict name -> numpy array, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        dt = _DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[base + b:base + e], dtype=dt).reshape(info["shape"])
        out[name] = arr.copy()
    return out, meta
