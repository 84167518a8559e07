"""tf2onnx conversion, graph checks and writing a model + its JSON metadata."""

from __future__ import annotations

import os
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

from bardbot.export.seal import dump_json, sealed
from bardbot.models.metadata import FORMATS, sha256_hex
from bardbot.trainer.runs import (
    UserError,
    json_safe,
    prepare_out_dir,
    quiet_tensorflow,
)

# tf2onnx 1.17 supports opsets up to 18; 17 is well supported by every onnxruntime >= 1.13.
OPSET = 17


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
        raise UserError(f"{name}: expected {lstms} ONNX LSTM op(s), graph has "
                          f"{ops.count('LSTM')}")
    found = {}
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        found[value.name] = len(dims)
        if not dims or dims[0].HasField("dim_value"):
            raise UserError(f"{name}: input {value.name} has no dynamic batch dimension")
    if found != inputs:
        raise UserError(f"{name}: graph inputs {found}, expected {inputs}")
    names = {value.name for value in proto.graph.output}
    if names != outputs:
        raise UserError(f"{name}: graph outputs {sorted(names)}, expected {sorted(outputs)}")


def session(proto):
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def export_command(argv: list[str] | None = None) -> str:
    """The command line as a shell would need it again (arguments quoted where needed)."""
    return f"python -m bardbot.export {shlex.join(sys.argv[1:] if argv is None else argv)}".rstrip()


def write_model(out_dir: str | Path, kind: str, proto, meta: dict, name: str | None = None
                ) -> tuple[Path, Path]:
    """Write `NAME.onnx` then `NAME.json` (with the .onnx sha256 and its own meta_sha256),
    each atomically; NAME defaults to KIND."""
    out = prepare_out_dir(out_dir)
    data = proto.SerializeToString()
    meta = {"format": FORMATS[kind], "kind": kind, "sha256": sha256_hex(data), **meta}
    onnx_path, json_path = out / f"{name or kind}.onnx", out / f"{name or kind}.json"
    for path, payload in ((onnx_path, data), (json_path, dump_json(sealed(json_safe(meta))))):
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
