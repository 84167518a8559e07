"""Shipped model files: where they live, their JSON metadata, and loading them safely.

Each model is a pair `NAME.onnx` + `NAME.json`. The JSON is written by
`python -m bardbot.export` and
holds the format version, the text encoding, metrics, the sha256 of the .onnx and the input and
output names, and `meta_sha256`, the sha256 of its own canonical content (see `meta_sha256`),
so an edited vocabulary or threshold is caught like a changed .onnx. Loading checks all of it
before a session is created, and a self-test runs the session on a few known inputs after, so
a stale, corrupt or foreign file fails at load time with a message that says how to rebuild it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.models.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent

SENTIMENT_FORMAT = "bardbot.model.sentiment/1"
SHAKESPEARE_FORMAT = "bardbot.model.shakespeare/1"
FORMATS = {"sentiment": SENTIMENT_FORMAT, "shakespeare": SHAKESPEARE_FORMAT}

# Bounds on a model's JSON, far above what the exporter writes (1.1 MB, 5 levels deep): a file
# past them is refused before (or right after) parsing instead of exhausting memory or the stack.
MAX_META_BYTES = 64 * 1024 * 1024
MAX_META_DEPTH = 32

# ONNX element types as onnxruntime names them.
ORT_TYPES = {"int32": "tensor(int32)", "int64": "tensor(int64)", "float32": "tensor(float)"}


def rebuild_hint(kind: str, onnx_path: Path | None = None) -> str:
    # A shipped model other than the reference has its own exporter command, its name, and
    # the trainer command of that name unless TRAINED_BY says otherwise.
    own = {stem: name for name, stem in SHIPPED[kind].items() if name != "reference"}
    command = own.get(onnx_path.stem, kind) if onnx_path is not None else kind
    return (
        f"rebuild it with `python -m bardbot.export {command} RUN_DIR` "
        f"(RUN_DIR made by `python -m bardbot.trainer {TRAINED_BY.get(command, command)}`)"
    )


def read_format_json(path: Path, expected_format: str) -> dict:
    """A shipped data file's JSON object (the bard's word list, the emoji ranking): ValueError
    when it is anything but a JSON object of `expected_format`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    found = data.get("format") if isinstance(data, dict) else type(data).__name__
    if found != expected_format:
        raise ValueError(f"format {found!r}, expected {expected_format}")
    return data


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


META_HASH = "meta_sha256"


def meta_sha256(meta: dict) -> str:
    """The sha256 of a model JSON's content without its `meta_sha256` field, serialised
    canonically (sorted keys, no spaces, UTF-8), so layout changes do not matter."""
    content = {key: value for key, value in meta.items() if key != META_HASH}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(canonical.encode("utf-8"))


def seal_command(json_path: Path) -> str:
    return f"python -m bardbot.export seal {json_path}"


# Shipped models by name, per kind: name -> file stem in MODELS_DIR. DEFAULT_MODEL is what
# `load()` gives without a name; the reference models stay loadable as "reference".
SHIPPED: dict[str, dict[str, str]] = {
    "sentiment": {"reference": "sentiment", "message": "sentiment-message",
                  "fast": "sentiment-fast"},
    "shakespeare": {"reference": "shakespeare", "bard": "bard"},
}
DEFAULT_MODEL = {"sentiment": "message", "shakespeare": "bard"}
# Shipped models whose trainer command is not their name (`rebuild_hint`).
TRAINED_BY = {"fast": "message --core words --units 12"}


def resolve_path(model: str | Path | None, kind: str) -> Path:
    """The .onnx file that `model` names: a shipped model's name, an .onnx or .json path, or a
    folder holding KIND.onnx. Never another file than the one named (no suffix guessing)."""
    if model is None:
        model = DEFAULT_MODEL[kind]
    if isinstance(model, str) and model in SHIPPED[kind]:
        return MODELS_DIR / f"{SHIPPED[kind][model]}.onnx"
    path = Path(model).expanduser()
    if path.is_dir():
        return path / f"{kind}.onnx"
    if path.suffix == ".json":
        return path.with_suffix(".onnx")
    if path.suffix == ".onnx":
        return path
    names = " or ".join(repr(n) for n in SHIPPED[kind])
    raise ModelError(
        f"{path}: not a {kind} model: give {names}, an .onnx file (with its .json beside it) "
        f"or a folder holding {kind}.onnx"
    )


def is_named_file(model: str | Path | None, kind: str) -> bool:
    """Whether `model` is a file's path (not the default, a shipped name or a folder)."""
    if model is None or model in SHIPPED[kind]:
        return False
    return not Path(model).expanduser().is_dir()


def model_name(onnx_path: Path, kind: str) -> str:
    """The shipped name of a model file ("bard", "reference"), else its path."""
    for name, stem in SHIPPED[kind].items():
        if Path(onnx_path).resolve() == (MODELS_DIR / f"{stem}.onnx").resolve():
            return name
    return str(onnx_path)


@dataclass(frozen=True)
class LoadedModel:
    """A verified model: the .onnx bytes and its parsed JSON metadata."""

    onnx_path: Path
    json_path: Path
    onnx_bytes: bytes
    meta: dict


def read_model(path: str | Path | None, kind: str) -> LoadedModel:
    """Read a model (see `resolve_path`; default: the shipped default) and verify it."""
    onnx_path = resolve_path(path, kind)
    json_path = onnx_path.with_suffix(".json")
    # A file the user named is more likely mistyped than in need of a rebuild.
    named = Path(path).expanduser() if is_named_file(path, kind) else None
    if named is not None and not named.is_file():
        raise ModelError(f"{named}: no such file")
    hint = rebuild_hint(kind, onnx_path)
    for needed in (onnx_path, json_path):
        if not needed.is_file():
            raise ModelError(f"{needed}: model file not found; {hint}")
    meta = _read_meta(json_path, hint)
    expected = FORMATS[kind]
    found = meta.get("format")
    if found != expected:
        raise ModelError(
            f"{json_path}: metadata format {found!r}, this bardbot reads {expected!r}; {hint}"
        )
    if META_HASH not in meta:
        raise ModelError(
            f"{json_path}: no {META_HASH} (written before bardbot checked its model JSON); "
            f"{hint}, or if you trust the file as it is: `{seal_command(json_path)}`"
        )
    if meta[META_HASH] != meta_sha256(meta):
        raise ModelError(
            f"{json_path}: {META_HASH} does not match its content (edited or damaged); {hint}"
        )
    # The loaders index into these sections; a hand-edited or damaged JSON must not surface
    # as an AttributeError deep inside them.
    for key in ("encoding", "inputs", "outputs"):
        section = meta.get(key)
        if not isinstance(section, dict) or (
            key != "encoding" and not all(isinstance(v, dict) for v in section.values())
        ):
            raise ModelError(f"{json_path}: metadata section {key!r} missing or malformed; {hint}")
    onnx_bytes = onnx_path.read_bytes()
    if sha256_hex(onnx_bytes) != meta.get("sha256"):
        raise ModelError(
            f"{onnx_path}: sha256 does not match {json_path.name} "
            f"(file changed or half-written); {hint}"
        )
    return LoadedModel(onnx_path, json_path, onnx_bytes, meta)


def _read_meta(json_path: Path, hint: str) -> dict:
    """The parsed JSON object in `json_path`; ModelError naming the file if it is unreadable,
    too large, too deep or not an object."""
    try:
        if json_path.stat().st_size > MAX_META_BYTES:
            raise ModelError(f"{json_path}: model metadata larger than "
                             f"{MAX_META_BYTES // 2**20} MB; {hint}")
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: bad JSON, or an integer of more digits than Python converts.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ModelError(f"{json_path}: unreadable model metadata ({reason}); {hint}") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{json_path}: model metadata is not a JSON object; {hint}")
    if _depth(meta) > MAX_META_DEPTH:
        raise ModelError(f"{json_path}: model metadata nested more than {MAX_META_DEPTH} levels"
                         f" deep; {hint}")
    return meta


def _depth(value: object) -> int:
    """How deeply dicts and lists nest in `value` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_META_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def create_session(model: LoadedModel, kind: str, threads: int = 1):
    """An onnxruntime session whose inputs and outputs are exactly the ones the JSON declares.

    Sessions are made once per model object; `InferenceSession.run` is thread-safe, so one
    session serves every caller. Spinning is off so an idle bot does not burn CPU.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    hint = rebuild_hint(kind)
    try:
        session = ort.InferenceSession(
            model.onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ModelError(f"{model.onnx_path}: onnxruntime cannot load it ({exc}); {hint}") from exc

    declared_in = model.meta.get("inputs", {})
    declared_out = model.meta.get("outputs", {})
    actual_in = {i.name: i.type for i in session.get_inputs()}
    actual_out = {o.name for o in session.get_outputs()}
    wanted_in = {name: ORT_TYPES.get(spec.get("dtype"), "?") for name, spec in declared_in.items()}
    if actual_in != wanted_in:
        raise ModelError(
            f"{model.onnx_path}: unexpected model inputs {sorted(actual_in.items())}, "
            f"expected {sorted(wanted_in.items())}; {hint}"
        )
    if not set(declared_out) <= actual_out:
        raise ModelError(
            f"{model.onnx_path}: model outputs {sorted(actual_out)} lack "
            f"{sorted(set(declared_out) - actual_out)}; {hint}"
        )
    return session


def self_test(model: LoadedModel, kind: str, session, feeds: dict, output: str) -> np.ndarray:
    """`output` for the known inputs `feeds`, checked to be finite: NaN or infinite weights, or
    an id past the end of an embedding, fail here at load instead of on a user's request."""
    try:
        result = np.asarray(session.run([output], feeds)[0])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(
            f"{model.onnx_path}: self-test failed ({exc}); {rebuild_hint(kind)}"
        ) from exc
    if not np.isfinite(result).all():
        raise ModelError(
            f"{model.onnx_path}: self-test gave non-finite {output} (NaN or infinite weights); "
            f"{rebuild_hint(kind)}"
        )
    return result


def require_io(model: LoadedModel, kind: str, inputs: dict[str, str], outputs: set[str]) -> None:
    """Check that the JSON declares exactly the inputs (name -> dtype) this runtime feeds."""
    declared = {name: spec.get("dtype") for name, spec in model.meta.get("inputs", {}).items()}
    if declared != inputs or not outputs <= set(model.meta.get("outputs", {})):
        raise ModelError(
            f"{model.json_path}: declares inputs {declared} and outputs "
            f"{sorted(model.meta.get('outputs', {}))}, this runtime needs inputs {inputs} and "
            f"outputs {sorted(outputs)}; {rebuild_hint(kind)}"
        )


def public_info(model: LoadedModel) -> dict:
    """What an "about" page shows: everything in the JSON except bulky vocabularies."""
    meta = model.meta
    info = {k: v for k, v in meta.items() if k != "encoding"}
    encoding = meta.get("encoding", {})
    info["encoding"] = {k: v for k, v in encoding.items() if k not in ("words", "chars")}
    info["file"] = str(model.onnx_path)
    info["size_bytes"] = len(model.onnx_bytes)
    return info
