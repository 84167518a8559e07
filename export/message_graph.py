"""The message model's ONNX graph, written node by node (28 nodes; tf2onnx's was 52).

tf2onnx turns the model into a graph that works but carries what a chat message pays for on
every run: an initial-state subgraph for zeros the `LSTM` op assumes anyway, integer arithmetic
for the negated ids, per-direction slices. A session run costs about a microsecond a node on
top of the `LSTM` itself, so the graph is built here from the weights alone:

    ids (n, t) int32 -> time-major -> int8 rows (id mod V) x row scale -> negation (id div V:
    valence sign, flag column) -> LSTM(sequence_lens = each text's length) -> padded steps
    -1e4 -> max over steps -> Dense -> Platt scaling with the length term -> sigmoid

The exporter checks it against the masked Keras model; `weights_of_graph` reads the weights
back from an exported graph (tf2onnx's or this one), so an older file can be rebuilt slim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from bardbot.export.onnx_io import OPSET
from bardbot.models.sentiment import INPUT, OUTPUT

PAD_PENALTY = 1e4  # LSTM outputs lie in (-1, 1): a padded step minus this never is the max


@dataclass
class MessageWeights:
    q: np.ndarray  # int8 (V, columns): the stored rows, without the negation flag column
    scale: np.ndarray  # float32 (V,): each row's scale
    w: np.ndarray  # float32 (directions, 4H, inputs): ONNX LSTM gate order i, o, f, c
    r: np.ndarray  # float32 (directions, 4H, H)
    b: np.ndarray  # float32 (directions, 8H): input then recurrent biases
    kernel: np.ndarray  # float32 (directions * H,): the Dense layer
    bias: float
    calibration: dict[str, float]  # scale, bias, log_length
    negation: bool  # ids >= V are row id - V, valence negated, a flag column of 1
    valence_column: Sequence[int] | int | None  # the column(s) negation flips

    @property
    def directions(self) -> int:
        return int(self.w.shape[0])

    @property
    def units(self) -> int:
        return int(self.r.shape[2])


def onnx_lstm_weights(layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX W, R, B of Keras LSTM weights [(kernel, recurrent_kernel, bias)] per direction:
    Keras orders the gates i, f, c, o and ONNX i, o, f, c."""
    ws, rs, bs = [], [], []
    for kernel, recurrent, bias in layers:
        units = recurrent.shape[0]
        order = np.concatenate([np.arange(g * units, (g + 1) * units) for g in (0, 3, 1, 2)])
        ws.append(kernel[:, order].T)
        rs.append(recurrent[:, order].T)
        bs.append(np.concatenate([bias[order], np.zeros(4 * units, bias.dtype)]))
    return tuple(np.stack(x).astype(np.float32) for x in (ws, rs, bs))


def message_graph(weights: MessageWeights):
    """The ModelProto: `token_ids` (n, t) int32, 0 = padding after each text -> `prob` (n,)."""
    from onnx import TensorProto, helper

    rows, columns = weights.q.shape
    cal = weights.calibration
    inputs = columns + int(weights.negation)
    consts = {
        "one": np.array(1, np.int32),
        "time_axis": np.array([1], np.int64),
        "flat": np.array([0, -1], np.int64),
        "rows": np.array(rows, np.int32),
        "q": np.hstack([weights.q, np.zeros((rows, inputs - columns), np.int8)]),
        "scale": weights.scale.astype(np.float32).reshape(-1, 1),
        "W": weights.w, "R": weights.r, "B": weights.b,
        "pad_penalty": np.array([-PAD_PENALTY, 0.0], np.float32).reshape(2, 1, 1),
        "kernel": (cal["scale"] * weights.kernel).astype(np.float32),
        "offset": np.array(cal["scale"] * weights.bias + cal["bias"], np.float32),
        "log_length": np.array(cal["log_length"], np.float32),
        "min_length": np.array(1.0, np.float32),
    }
    node = helper.make_node
    nodes = [
        node("Transpose", [INPUT], ["ids_t"], perm=[1, 0]),
        node("Min", [INPUT, "one"], ["present"]),
        node("ReduceSum", ["present", "time_axis"], ["lengths"], keepdims=0),
    ]
    if weights.negation:
        multiply, add = np.ones((2, inputs), np.float32), np.zeros((2, inputs), np.float32)
        if weights.valence_column is not None:  # several columns: numpy indexes them all
            multiply[1, weights.valence_column] = -1.0
        add[1, -1] = 1.0
        consts.update(negation_multiply=multiply, negation_add=add)
        nodes += [node("Mod", ["ids_t", "rows"], ["row_ids"]),
                  node("Div", ["ids_t", "rows"], ["negated"])]
    row_ids = "row_ids" if weights.negation else "ids_t"
    nodes += [
        node("Gather", ["q", row_ids], ["q_rows"]),
        node("Cast", ["q_rows"], ["q_float"], to=TensorProto.FLOAT),
        node("Gather", ["scale", row_ids], ["row_scale"]),
        node("Mul", ["q_float", "row_scale"], ["x_plain" if weights.negation else "x"]),
    ]
    if weights.negation:
        nodes += [node("Gather", ["negation_multiply", "negated"], ["negation_multiply_rows"]),
                  node("Mul", ["x_plain", "negation_multiply_rows"], ["x_signed"]),
                  node("Gather", ["negation_add", "negated"], ["negation_add_rows"]),
                  node("Add", ["x_signed", "negation_add_rows"], ["x"])]
    nodes += [
        node("LSTM", ["x", "W", "R", "B", "lengths"], ["y"], hidden_size=weights.units,
             direction="bidirectional" if weights.directions == 2 else "forward"),
        node("Transpose", ["y"], ["y_t"], perm=[0, 2, 1, 3]),  # (t, n, directions, H)
        node("Min", ["ids_t", "one"], ["present_t"]),
        node("Gather", ["pad_penalty", "present_t"], ["penalty"]),
        node("Add", ["y_t", "penalty"], ["y_masked"]),
        node("ReduceMax", ["y_masked"], ["pooled"], axes=[0], keepdims=0),
        node("Reshape", ["pooled", "flat"], ["features"]),
        node("MatMul", ["features", "kernel"], ["logit"]),
        node("Cast", ["lengths"], ["length"], to=TensorProto.FLOAT),
        node("Max", ["length", "min_length"], ["length_at_least_1"]),
        node("Log", ["length_at_least_1"], ["log_tokens"]),
        node("Mul", ["log_tokens", "log_length"], ["length_term"]),
        node("Add", ["logit", "length_term"], ["logit_with_length"]),
        node("Add", ["logit_with_length", "offset"], ["calibrated"]),
        node("Sigmoid", ["calibrated"], [OUTPUT]),
    ]
    return ids_to_prob_model("message_sentiment", nodes, consts, "bardbot.export.message_graph")


def ids_to_prob_model(name: str, nodes: list, consts: dict[str, np.ndarray], producer: str):
    """The checked ModelProto of `nodes` with the message models' contract, `token_ids` (n, t)
    int32 -> `prob` (n,), and `consts` as its initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(INPUT, TensorProto.INT32, ["batch", "tokens"])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch"])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=producer)
    onnx.checker.check_model(proto)
    return proto


def weights_of_graph(proto, calibration: dict[str, float], negation: bool,
                     valence_column: Sequence[int] | int | None) -> MessageWeights:
    """The weights of an exported message graph: this module's, or tf2onnx's (whose Platt
    scaling is in `calibration`, from the model's JSON)."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    (lstm,) = [n for n in proto.graph.node if n.op_type == "LSTM"]
    w, r, b = (values[name].astype(np.float32) for name in lstm.input[1:4])
    if proto.producer_name == "bardbot.export.message_graph":
        q = values["q"][:, : values["q"].shape[1] - int(negation)]
        return MessageWeights(q, values["scale"].reshape(-1), w, r, b, values["kernel"],
                              float(values["offset"]),
                              {"scale": 1.0, "bias": 0.0,
                               "log_length": float(values["log_length"])},
                              negation, valence_column)
    gathered = [values[n.input[0]] for n in proto.graph.node
                if n.op_type == "Gather" and n.input[0] in values]
    (q,) = [v for v in gathered if v.dtype == np.int8]
    (scale,) = [v for v in gathered if v.dtype == np.float32 and v.shape == (len(q),)]
    (matmul,) = [n for n in proto.graph.node if n.op_type == "MatMul"]
    (bias_add,) = [n for n in proto.graph.node
                   if n.op_type == "Add" and matmul.output[0] in n.input]
    bias = next(values[name] for name in bias_add.input if name in values)
    return MessageWeights(q, scale, w, r, b, values[matmul.input[1]].reshape(-1),
                          float(np.asarray(bias).reshape(-1)[0]), calibration, negation,
                          valence_column)
