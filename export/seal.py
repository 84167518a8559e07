"""`python -m bardbot.export seal MODEL.json ...`: add `meta_sha256` to model JSON files.

The exporter writes it itself; this step seals files written before it did (and is safe to
re-run: a sealed file is rewritten unchanged). Only the .json is rewritten, never the .onnx,
and only when the .onnx beside it still matches the JSON's `sha256`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bardbot.models.metadata import META_HASH, meta_sha256, sha256_hex
from bardbot.trainer.runs import UserError


def dump_json(meta: dict) -> bytes:
    """A model JSON as the exporter writes it."""
    return (json.dumps(meta, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def sealed(meta: dict) -> dict:
    """`meta` with its `meta_sha256`, placed right after the .onnx `sha256`."""
    digest = meta_sha256(meta)
    out: dict = {}
    for key, value in meta.items():
        if key != META_HASH:
            out[key] = value
        if key == "sha256":
            out[META_HASH] = digest
    out.setdefault(META_HASH, digest)
    return out


def seal(json_path: str | Path) -> Path:
    path = Path(json_path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        onnx_bytes = path.with_suffix(".onnx").read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot seal ({exc})") from None
    if not isinstance(meta, dict) or sha256_hex(onnx_bytes) != meta.get("sha256"):
        raise UserError(
            f"{path}: its sha256 does not match {path.with_suffix('.onnx').name}; "
            "re-export the model instead of sealing it"
        )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(dump_json(sealed(meta)))
    os.replace(tmp, path)
    return path
