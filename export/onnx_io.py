"""tf2onnx conversion, graph checks and writing a model + its JSON metadata."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from bardbot.export.errors import ExportError
from bardbot.models.metadata import FORMATS, sha256_hex
from bardbot.trainer.fit import json_safe

# tf2onnx 1.17 supports opsets up to 18; 17 is well supported by every onnxruntime >= 1.13.
OPSET = 17


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def convert(fn, opset: int = OPSET):
    """ONNX ModelProto of a `tf.function` with an input signature.

    `tf2onnx.convert.from_keras` fails with Keras 3; `from_function` on a traced function works
    and freezes the weights into the graph.
    """
    import tf2onnx

    proto, _ = tf2onnx.convert.from_function(
        fn, input_signature=fn.input_signature, opset=opset
    )
    return proto


def check_graph(proto, inputs: dict[str, int], outputs: set[str], name: str, lstms: int = 1
                ) -> None:
    """Exactly `lstms` LSTM ops, the named inputs (with their ranks), a dynamic batch dim."""
    import onnx

    onnx.checker.check_model(proto)
    ops = [node.op_type for node in proto.graph.node]
    if ops.count("LSTM") != lstms:
        raise ExportError(f"{name}: expected {lstms} ONNX LSTM op(s), graph has "
                          f"{ops.count('LSTM')}")
    found = {}
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        found[value.name] = len(dims)
        if not dims or dims[0].HasField("dim_value"):
            raise ExportError(f"{name}: input {value.name} has no dynamic batch dimension")
    if found != inputs:
        raise ExportError(f"{name}: graph inputs {found}, expected {inputs}")
    names = {value.name for value in proto.graph.output}
    if names != outputs:
        raise ExportError(f"{name}: graph outputs {sorted(names)}, expected {sorted(outputs)}")


def session(proto):
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def versions() -> dict:
    out = {"python": platform.python_version()}
    dists = ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy")
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def export_command(argv: list[str] | None = None) -> str:
    """The command line as a shell would need it again (arguments quoted where needed)."""
    return f"python -m bardbot.export {shlex.join(sys.argv[1:] if argv is None else argv)}".rstrip()


def read_run(run_dir: str | Path, kind: str) -> tuple[Path, dict]:
    """The run folder and its meta.json; a folder without meta.json is an unfinished run."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ExportError(f"{run}: no such run folder; "
                          f"train one with `python -m bardbot.trainer {kind}`")
    meta_path = run / "meta.json"
    if not meta_path.is_file():
        raise ExportError(
            f"{run}: no meta.json, so the run is unfinished or failed; "
            f"finish it with `python -m bardbot.trainer {kind} --out {run}`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{meta_path}: unreadable ({exc})") from exc
    expected = f"bardbot.train.{kind}/1"
    if meta.get("format") != expected:
        raise ExportError(
            f"{meta_path}: format {meta.get('format')!r}, expected {expected!r} "
            f"(is this a {kind} run?)"
        )
    if not (run / "model.keras").is_file():
        raise ExportError(f"{run}: model.keras is missing")
    return run, meta


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create --out up front, so a bad folder fails before the (slow) conversion."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"--out {out}: cannot create the folder ({exc.strerror}); give a "
                          f"writable folder") from None
    return out


def write_model(out_dir: str | Path, kind: str, proto, meta: dict, name: str | None = None
                ) -> tuple[Path, Path]:
    """Write `NAME.onnx` then `NAME.json` (with the .onnx sha256), each atomically; NAME
    defaults to KIND."""
    out = prepare_out_dir(out_dir)
    data = proto.SerializeToString()
    meta = {"format": FORMATS[kind], "kind": kind, "sha256": sha256_hex(data), **meta}
    name = name or kind
    onnx_path, json_path = out / f"{name}.onnx", out / f"{name}.json"
    for path, payload in (
        (onnx_path, data),
        (json_path, (json.dumps(json_safe(meta), indent=1, ensure_ascii=False, allow_nan=False)
                     + "\n").encode("utf-8")),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    return onnx_path, json_path


@contextmanager
def removed_on_failure(paths):
    """A written pair that then fails its runtime check must not stay behind looking shipped."""
    try:
        yield
    except Exception:
        for path in paths:
            Path(path).unlink(missing_ok=True)
        raise


def load_keras(run: Path):
    quiet_tensorflow()
    import keras

    return keras.models.load_model(run / "model.keras", compile=False)
