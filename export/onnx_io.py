"""What every exporter does: tf2onnx conversion, graph and parity checks, provenance, and
writing a model + its JSON metadata once, after the runtime has checked a staged copy."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bardbot.export.seal import dump_json, sealed
from bardbot.models.metadata import FORMATS, MODELS_DIR, sha256_hex
from bardbot.trainer import runs
from bardbot.trainer.runs import UserError

# tf2onnx 1.17 supports opsets up to 18; 17 is well supported by every onnxruntime >= 1.13.
OPSET = 17
# The largest difference (in probability) an exported graph may show against Keras.
PARITY_TOL = 1e-5


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


def check_parity(model: str, diffs: dict[str, float], log=print) -> dict[str, float]:
    """Log each check's max abs difference; stop the export if one is over PARITY_TOL (or
    NaN). Returns the differences as floats, for the model's JSON."""
    diffs = {check: float(diff) for check, diff in diffs.items()}
    for check, diff in diffs.items():
        log(f"parity {check}: max abs diff {diff:.2e}")
        if not diff <= PARITY_TOL:
            raise UserError(f"{model} parity failed: {check} max abs diff {diff:.2e} "
                            f"> {PARITY_TOL}")
    return diffs


def provenance(run_meta: dict, command: str | None) -> dict:
    """Where an exported model comes from: both command lines, the seed, the versions."""
    return {"training_command": run_meta.get("command"), "export_command": command,
            "seed": run_meta.get("seed"),
            "versions": {"training": run_meta.get("versions"), "export": runs.versions()}}


def session(proto):
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def add_run_dir_argument(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help=f"a finished run folder (has meta.json) from "
                             f"`python -m bardbot.trainer {kind} --out RUN_DIR`")


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=MODELS_DIR, metavar="DIR",
                        help="output folder (default: the models/ package, replacing the "
                             "shipped files)")


def add_test_set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--imdb", default=None, metavar="PATH",
                        help="aclImdb_v1.tar.gz or aclImdb/ for the test-set metrics (default: "
                             "search $BARDBOT_DATA, ./data, ../shared/data)")
    parser.add_argument("--eval-limit", type=int, default=None, metavar="N",
                        help="test reviews measured, half of each class (default: all 25,000)")


def export_command(argv: list[str] | None = None) -> str:
    """The command line as a shell would need it again (arguments quoted where needed)."""
    return f"python -m bardbot.export {shlex.join(sys.argv[1:] if argv is None else argv)}".rstrip()


def write_model(out_dir: str | Path, kind: str, proto, meta: dict, name: str | None = None
                ) -> tuple[Path, Path]:
    """Write `NAME.onnx` then `NAME.json` (with the .onnx sha256 and its own meta_sha256),
    each atomically; NAME defaults to KIND."""
    out = runs.prepare_out_dir(out_dir)
    data = proto.SerializeToString()
    meta = {"format": FORMATS[kind], "kind": kind, "sha256": sha256_hex(data), **meta}
    onnx_path, json_path = out / f"{name or kind}.onnx", out / f"{name or kind}.json"
    for path, payload in ((onnx_path, data), (json_path, dump_json(sealed(runs.json_safe(meta))))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    return onnx_path, json_path


@contextmanager
def staged(kind: str, proto, meta: dict, name: str | None = None
           ) -> Iterator[tuple[Path, Path]]:
    """The pair written to a scratch folder for the runtime to load, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bardbot-export-") as scratch:
        yield write_model(scratch, kind, proto, meta, name)


def write_checked(out_dir: str | Path, kind: str, proto, meta: dict,
                  check: Callable[[Path], dict], name: str | None = None, log=print,
                  note: str = "") -> tuple[Path, Path]:
    """Write the pair to `out_dir` once, after `check` passed on a staged copy, so a pair that
    fails never replaces the one there. `check(onnx_path)` loads the copy with the runtime,
    raises if it misbehaves, and returns what it measured for meta["metrics"]["export"]."""
    with staged(kind, proto, meta, name) as paths:
        measured = check(paths[0])
    meta["metrics"]["export"].update(measured)
    paths = write_model(out_dir, kind, proto, meta, name)
    log(f"wrote {paths[0]} and {paths[1]} ({note}{sum(p.stat().st_size for p in paths) / 1e6:.2f}"
        " MB)")
    return paths


def load_keras(run: Path):
    runs.quiet_tensorflow()
    import keras

    return keras.models.load_model(run / "model.keras", compile=False)
