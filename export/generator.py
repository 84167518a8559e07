"""Generation in one onnxruntime run: an ONNX `Loop` around the exported LSTM step.

The exported step graph (char ids + (h, c) -> probs + new state, as tf2onnx wrote it) stays
exactly as it was and still reads the prompt. This adds two optional inputs and one output:

  uniforms     float64 [N]: one uniform draw per new char, from the caller's seeded generator
               (default: empty, so N = 0 and the model is the plain step model)
  temperature  float64 []: the sampling temperature (default 1); <= 0 is greedy
  new_ids      int64 [N]: the N chars drawn after the input ids

and, for chat (models/steer.py), a second loop, chosen by an `If` when steering tables, a stop
char or end chars are given (so plain generation runs exactly the loop, and at the speed,
it ran before), with optional inputs:

  steer_gain   float64 [S, n_chars]: per automaton state, a factor on each char's sampling
               weight (after temperature), applied where the char's probability >= steer_floor
  steer_next   int64 [S, n_chars]: the automaton's next state after each char
  steer_start  int64 []: its state before the first new char
  steer_floor  float64 []: the probability below which a char gets no gain
  stop_id      int64 []: stop after two of these in a row (a blank line; default -1: never),
               so `new_ids` may be shorter than N
  end_chars    bool [n_chars]: chars that may end the text (default: none)
  end_after    int64 []: stop at the first `end_chars` char drawn after at least this many
               chars (a chat reply ends at a sentence's or line's end once long enough;
               default 0)

The loop body is lean, because onnxruntime's cost per iteration is its node count: the step
model's input vectors as a lookup table (one Gather instead of OneHot/Embedding + reshapes), the
tf2onnx LSTM node(s) themselves with their weights, the Dense MatMul + Add + Softmax, then the
reference's sampling in float64 (`models.sampling.sample_index`, with `rng.random()` replaced by
the passed-in uniform): w = (max(p, PROB_FLOOR) / max p) ** (1 / T), which is softmax(log(p) / T) up
to normalisation, and the inverse-CDF draw: how many entries of cumsum(w) are <= u * sum(w).
Greedy (T <= 0) is 1 / T = inf: w is 1 at the largest probability and 0 elsewhere, so the draw
is the argmax (the first one on ties, like np.argmax) whatever u is. So a seed gives the same
text as the step-by-step Python loop, up to float64 rounding at a draw boundary.
"""

from __future__ import annotations

import numpy as np
from bardbot.models.sampling import PROB_FLOOR

UNIFORMS, TEMPERATURE, NEW_IDS = "uniforms", "temperature", "new_ids"
STEER_GAIN, STEER_NEXT, STEER_START, STEER_FLOOR, STOP_ID = (
    "steer_gain", "steer_next", "steer_start", "steer_floor", "stop_id")
END_CHARS, END_AFTER = "end_chars", "end_after"
OPTIONAL_INPUTS = (UNIFORMS, TEMPERATURE, STEER_GAIN, STEER_NEXT, STEER_START, STEER_FLOOR,
                   STOP_ID, END_CHARS, END_AFTER)
STEP_OUTPUTS = ("probs", "h_out", "c_out")
P = "gen/"  # prefix of every name this module adds
STEERED = P + "steer/"  # prefix of the steered loop's own names


def _producers(graph) -> dict:
    return {out: node for node in graph.node for out in node.output}


def _head(graph) -> tuple[str, str | None]:
    """Initializer names of the Dense kernel and bias: probs = Softmax(MatMul(y, K) [+ b])
    (tf2onnx drops an all-zero bias)."""
    made, inits = _producers(graph), {t.name for t in graph.initializer}
    softmax = made.get("probs")
    node = made.get(softmax.input[0]) if softmax is not None else None
    bias = None
    if node is not None and node.op_type == "Add":
        bias = next((t for t in node.input if t in inits), None)
        node = made.get(next((t for t in node.input if t not in inits), ""))
    if (softmax is None or softmax.op_type != "Softmax" or node is None
            or node.op_type != "MatMul" or node.input[1] not in inits
            or (bias is None and made.get(softmax.input[0]).op_type == "Add")):
        raise ValueError("step model head is not Softmax(MatMul(y, K) + b)")
    return node.input[1], bias


def _input_table(step, lstm) -> np.ndarray:
    """[n_chars, 1, 1, input_size]: what the step graph feeds the first LSTM for each id."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(step)
    probe.graph.output.append(onnx.helper.make_tensor_value_info(lstm.input[0],
                                                                 onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    n_chars = next(o for o in step.graph.output if o.name == "probs"
                   ).type.tensor_type.shape.dim[-1].dim_value
    state = next(i for i in sess.get_inputs() if i.name == "h").shape[-1]
    zeros = np.zeros((1, state), np.float32)
    (x,) = sess.run([lstm.input[0]], {"char_ids": np.arange(n_chars)[None], "h": zeros,
                                       "c": zeros})
    return x.reshape(n_chars, 1, 1, -1)  # x is [T, batch, input] with T = n_chars, batch 1


def _sampling(helper, local: str, u: str, out: str, state: str | None) -> list:
    """Nodes drawing `out` (int64 []) from `local`p (float32) like `sample_index`; with a
    steering `state`, each weight times its gain where the probability is >= steer_floor."""
    from onnx import TensorProto

    def t(name: str) -> str:
        return local + "s/" + name

    n = helper.make_node
    weights = [n("Pow", [t("r"), P + "inv_t"], [t("w")])]
    if state is not None:
        weights = [
            n("Pow", [t("r"), P + "inv_t"], [t("w0")]),
            n("Gather", [STEER_GAIN, state], [t("gain_row")], axis=0),
            n("GreaterOrEqual", [t("pf"), STEER_FLOOR], [t("plausible")]),
            n("Where", [t("plausible"), t("gain_row"), P + "one"], [t("gain")]),
            n("Mul", [t("w0"), t("gain")], [t("w")]),
        ]
    return [
        n("Cast", [local + "p"], [t("p64")], to=TensorProto.DOUBLE),
        n("Max", [t("p64"), P + "floor"], [t("pf")]),
        n("ReduceMax", [t("pf")], [t("pmax")], keepdims=1),
        n("Div", [t("pf"), t("pmax")], [t("r")]),
        *weights,
        n("CumSum", [t("w"), P + "axis"], [t("cdf")]),
        n("ReduceSum", [t("w")], [t("total")], keepdims=0),
        n("Mul", [u, t("total")], [t("target")]),
        # np.searchsorted(cdf, target, side="right") = how many cdf entries are <= target.
        n("LessOrEqual", [t("cdf"), t("target")], [t("below")]),
        n("Cast", [t("below")], [t("below64")], to=TensorProto.INT64),
        n("ReduceSum", [t("below64")], [t("count")], keepdims=0),
        n("Min", [t("count"), P + "last"], [out]),
    ]


def _steer_and_stop(helper, local: str) -> list:
    """The automaton's next state, and the loop's condition: neither two `stop_id`s in a row
    nor an `end_chars` char at or after iteration `end_after`."""
    n = helper.make_node
    return [
        n("Gather", [STEER_NEXT, local + "state"], [local + "next_row"], axis=0),
        n("Gather", [local + "next_row", local + "id"], [local + "state_next"], axis=0),
        n("Equal", [local + "id", STOP_ID], [local + "is_stop"]),
        n("Equal", [local + "prev", STOP_ID], [local + "was_stop"]),
        n("And", [local + "is_stop", local + "was_stop"], [local + "blank_line"]),
        n("Gather", [END_CHARS, local + "id"], [local + "is_end"], axis=0),
        n("GreaterOrEqual", [local + "i", END_AFTER], [local + "long_enough"]),
        n("And", [local + "is_end", local + "long_enough"], [local + "text_end"]),
        n("Or", [local + "blank_line", local + "text_end"], [local + "stop"]),
        n("Not", [local + "stop"], [local + "cond_next"]),
        n("Identity", [local + "id"], [local + "prev_next"]),
    ]


def remove_generation_loop(model):
    """A copy of a model with the generation loop taken out: the step model as exported."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    ours = set(OPTIONAL_INPUTS) | {NEW_IDS}

    def added(name: str) -> bool:
        return name.startswith(P) or name in ours

    kept = [node for node in graph.node if not any(added(o) for o in node.output)]
    del graph.node[:]
    graph.node.extend(kept)
    for field in (graph.initializer, graph.input, graph.output):
        kept = [item for item in field if not added(item.name)]
        del field[:]
        field.extend(kept)
    return out


def _loop_body(lstms, kernel: str, bias: str | None, n_chars: int, units: list[int],
               local: str, steered: bool):
    """One char per iteration: draw it from p, feed it to the LSTM(s), the next p. The steered
    body also carries the automaton's state and the previous char, and stops after a blank
    line (`local`: the prefix of the body's own names)."""
    import onnx
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    body = [
        helper.make_node("Gather", [UNIFORMS, local + "i"], [local + "u"], axis=0),
        *_sampling(helper, local, local + "u", local + "id",
                   local + "state" if steered else None),
        helper.make_node("Gather", [P + "table", local + "id"], [local + "x0"], axis=0),
        *(_steer_and_stop(helper, local) if steered else []),
    ]
    x = local + "x0"
    for layer, node in enumerate(lstms):
        lstm = onnx.NodeProto()
        lstm.CopyFrom(node)
        lstm.name = f"{local}lstm{layer}"
        # One step, batch 1: Y_h [1, 1, units] is also the next layer's input [T, batch, units].
        inputs = list(node.input) + [""] * (7 - len(node.input))
        inputs[0], inputs[4] = x, ""
        inputs[5], inputs[6] = f"{local}h{layer}", f"{local}c{layer}"
        lstm.input[:] = inputs[:7]
        lstm.output[:] = ["", f"{local}h{layer}_next", f"{local}c{layer}_next"]
        body.append(lstm)
        x = f"{local}h{layer}_next"
    body += [
        helper.make_node("MatMul", [x, kernel], [local + "logits0"]),
        *([helper.make_node("Add", [local + "logits0", bias], [local + "logits"])]
          if bias else []),
        helper.make_node("Softmax", [local + ("logits" if bias else "logits0")],
                         [local + "p_next"], axis=-1),
    ]
    states = [f"{local}{s}{layer}" for s in "hc" for layer in range(len(lstms))]
    state_vi = [vi(name, TensorProto.FLOAT, [1, 1, u])
                for name, u in zip(states, units + units, strict=True)]
    scalars = [local + "state", local + "prev"] if steered else []
    loop_body = helper.make_graph(
        body, "steered_generation_step" if steered else "generation_step",
        [vi(local + "i", TensorProto.INT64, []), vi(local + "cond", TensorProto.BOOL, []),
         vi(local + "p", TensorProto.FLOAT, [1, 1, n_chars]), *state_vi,
         *[vi(name, TensorProto.INT64, []) for name in scalars]],
        [vi(local + ("cond_next" if steered else "cond"), TensorProto.BOOL, []),
         vi(local + "p_next", TensorProto.FLOAT, [1, 1, n_chars]),
         *[vi(name + "_next", TensorProto.FLOAT, [1, 1, u])
           for name, u in zip(states, units + units, strict=True)],
         *[vi(name + "_next", TensorProto.INT64, []) for name in scalars],
         vi(local + "id", TensorProto.INT64, [])],
    )
    return loop_body


def _choose_loop(plain_loop, steered_loop) -> list:
    """Nodes running one loop into `new_ids`: the steered one when steering tables (more than
    one state), a stop char or end chars are given, else the plain one, exactly as
    before it existed."""
    from onnx import TensorProto, helper

    n, vi = helper.make_node, helper.make_tensor_value_info
    return [
        n("Shape", [STEER_GAIN], [P + "gain_shape"]),
        n("Gather", [P + "gain_shape", P + "zero_index"], [P + "gain_states"], axis=0),
        n("Greater", [P + "gain_states", P + "one_state"], [P + "has_tables"]),
        n("GreaterOrEqual", [STOP_ID, P + "zero_id"], [P + "has_stop"]),
        n("Cast", [END_CHARS], [P + "end_counts"], to=TensorProto.INT64),
        n("ReduceMax", [P + "end_counts"], [P + "any_end"], keepdims=0),
        n("Greater", [P + "any_end", P + "zero_id"], [P + "has_end"]),
        n("Or", [P + "has_tables", P + "has_stop"], [P + "tables_or_stop"]),
        n("Or", [P + "tables_or_stop", P + "has_end"], [P + "steered"]),
        n("If", [P + "steered"], [NEW_IDS],
          then_branch=helper.make_graph([steered_loop], "steered", [],
                                        [vi(STEERED + "ids", TensorProto.INT64, [None])]),
          else_branch=helper.make_graph([plain_loop], "plain", [],
                                        [vi(P + "plain_ids", TensorProto.INT64, [None])])),
    ]


def _step_lstms(graph) -> list:
    """The LSTM nodes of a step graph, after checking it is one and has no loop yet."""
    outputs = {o.name for o in graph.output}
    if NEW_IDS in outputs:
        raise ValueError("the model already has a generation loop")
    if not set(STEP_OUTPUTS) <= outputs:
        raise ValueError(f"not a step model: outputs {sorted(outputs)}")
    lstms = [node for node in graph.node if node.op_type == "LSTM"]
    if not lstms:
        raise ValueError("step model has no LSTM node")
    return lstms


def add_generation_loop(step):
    """A copy of the step ModelProto with the generation loop added (see the module doc)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = step.graph
    lstms = _step_lstms(graph)
    units = [next(a.i for a in node.attribute if a.name == "hidden_size") for node in lstms]
    kernel, bias = _head(graph)
    table = _input_table(step, lstms[0])
    n_chars = table.shape[0]

    model = onnx.ModelProto()
    model.CopyFrom(step)
    graph = model.graph
    vi = helper.make_tensor_value_info
    plain = _loop_body(lstms, kernel, bias, n_chars, units, P, steered=False)
    steered = _loop_body(lstms, kernel, bias, n_chars, units, STEERED, steered=True)
    states = [f"{s}{layer}" for s in "hc" for layer in range(len(lstms))]

    arrays = {
        UNIFORMS: np.zeros(0, np.float64), TEMPERATURE: np.array(1.0, np.float64),
        P + "table": table, P + "floor": np.array(PROB_FLOOR), P + "axis": np.array(-1, np.int64),
        P + "last": np.array(n_chars - 1, np.int64), P + "true": np.array(True),
        P + "zero": np.array(0.0), P + "inf": np.array(np.inf), P + "one": np.array(1.0),
        P + "minus1": np.array([-1], np.int64), P + "no_id": np.array(-1, np.int64),
        STEER_GAIN: np.ones((1, n_chars)), STEER_NEXT: np.zeros((1, n_chars), np.int64),
        STEER_START: np.array(0, np.int64), STEER_FLOOR: np.array(0.0),
        STOP_ID: np.array(-1, np.int64), END_CHARS: np.zeros(n_chars, bool),
        END_AFTER: np.array(0, np.int64),
        P + "state_shape": np.array([len(lstms), 1, 1, -1], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(a, name) for name, a in arrays.items())
    graph.input.extend([vi(UNIFORMS, TensorProto.DOUBLE, [None]),
                        vi(TEMPERATURE, TensorProto.DOUBLE, []),
                        vi(STEER_GAIN, TensorProto.DOUBLE, [None, n_chars]),
                        vi(STEER_NEXT, TensorProto.INT64, [None, n_chars]),
                        vi(STEER_START, TensorProto.INT64, []),
                        vi(STEER_FLOOR, TensorProto.DOUBLE, []),
                        vi(STOP_ID, TensorProto.INT64, []),
                        vi(END_CHARS, TensorProto.BOOL, [n_chars]),
                        vi(END_AFTER, TensorProto.INT64, [])])
    n = helper.make_node
    main = [
        n("Size", [UNIFORMS], [P + "n"]),
        n("LessOrEqual", [TEMPERATURE, P + "zero"], [P + "greedy"]),
        n("Div", [P + "one", TEMPERATURE], [P + "recip"]),
        n("Where", [P + "greedy", P + "inf", P + "recip"], [P + "inv_t"]),
        n("Gather", ["probs", P + "minus1"], [P + "p0"], axis=1),  # [1, 1, n_chars]
    ]
    # h_out/c_out [1, layers * units] (layers in order) -> one [1, 1, units] per layer
    for s in "hc":
        main.append(n("Reshape", [f"{s}_out", P + "state_shape"], [f"{P}{s}_layers"]))
        split = [f"{P}{s}_split{layer}" for layer in range(len(lstms))]
        if len(lstms) == 1:
            main.append(n("Identity", [f"{P}{s}_layers"], split))
        else:
            main.append(n("Split", [f"{P}{s}_layers"], split, axis=0))
        main += [n("Squeeze", [name, P + "axis0"], [f"{P}{s}0_{layer}"])
                 for layer, name in enumerate(split)]
    graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), P + "axis0"))
    start = [P + "n", P + "true", P + "p0", *[f"{P}{s}0_{layer}" for s in "hc"
                                               for layer in range(len(lstms))]]
    plain_loop = n("Loop", start, [P + "p_end", *[P + s + "_end" for s in states],
                                   P + "plain_ids"], body=plain)
    steered_loop = n("Loop", [*start, STEER_START, P + "no_id"],
                     [STEERED + "p_end", *[STEERED + s + "_end" for s in states],
                      STEERED + "state_end", STEERED + "prev_end", STEERED + "ids"],
                     body=steered)
    main += _choose_loop(plain_loop, steered_loop)
    graph.initializer.extend(numpy_helper.from_array(np.array(v, np.int64), P + name)
                             for name, v in (("zero_index", 0), ("one_state", 1),
                                             ("zero_id", 0)))
    graph.node.extend(main)
    graph.output.append(vi(NEW_IDS, TensorProto.INT64, [None]))
    onnx.checker.check_model(model)
    return model


LOOP_META = {
    "inputs": {UNIFORMS: {"dtype": "float64", "shape": [None],
                          "meaning": "one uniform in [0, 1) per new char (optional)"},
               TEMPERATURE: {"dtype": "float64", "shape": [],
                             "meaning": "sampling temperature, <= 0 greedy (optional)"},
               STEER_GAIN: {"dtype": "float64", "shape": [None, None],
                            "meaning": "chat steering: factor on each char's weight per "
                                       "automaton state (optional; models/steer.py)"},
               STEER_NEXT: {"dtype": "int64", "shape": [None, None],
                            "meaning": "chat steering: next automaton state per char"},
               STEER_START: {"dtype": "int64", "shape": [], "meaning": "first automaton state"},
               STEER_FLOOR: {"dtype": "float64", "shape": [],
                             "meaning": "no gain for chars below this probability"},
               STOP_ID: {"dtype": "int64", "shape": [],
                         "meaning": "stop after two of this char in a row (optional)"},
               END_CHARS: {"dtype": "bool", "shape": [None],
                           "meaning": "chars that may end the text (optional)"},
               END_AFTER: {"dtype": "int64", "shape": [],
                           "meaning": "stop at the first end_chars char drawn after at least "
                                      "this many chars (optional)"}},
    "output": NEW_IDS,
    "sampling": f"softmax(log(max(p, {PROB_FLOOR})) / T), inverse-CDF draw with the given uniform",
}
LOOP_OUTPUTS_META = {NEW_IDS: {"dtype": "int64", "shape": [None],
                              "meaning": "chars drawn after the input ids, one per uniform "
                                         "(fewer when stop_id stops the loop)"}}


def add_loop_to_file(onnx_path, log=print, command: str | None = None, replace: bool = False):
    """Give an exported step model (NAME.onnx + NAME.json) its generation loop, in place
    (`replace`: a model that has one gets the current one instead).

    The step graph and its weights stay byte for byte as they were; the JSON gains the loop's
    description and the new sha256. Checked: the runtime's one-run generation equals its
    step-by-step generation (same seeds, three temperatures; with steering and stopping)."""
    import json
    from pathlib import Path

    import onnx
    from bardbot.export.seal import dump_json, sealed
    from bardbot.models.metadata import sha256_hex
    from bardbot.models.shakespeare import ShakespeareGenerator
    from bardbot.trainer.runs import UserError

    onnx_path = Path(onnx_path)
    json_path = onnx_path.with_suffix(".json")
    gen = ShakespeareGenerator.load(onnx_path)  # verifies the pair first
    if gen.has_loop and not replace:
        raise UserError(f"{onnx_path}: already has a generation loop (--replace renews it)")
    if gen.mode != "stateful":
        raise UserError(f"{onnx_path}: a windowed model has no state to loop over")
    meta = json.loads(json_path.read_text(encoding="utf-8"))
    old = (onnx_path.read_bytes(), json_path.read_bytes())
    from bardbot.export.bard import from_float16, to_float16

    step = remove_generation_loop(onnx.load(onnx_path))
    stored16 = any(init.name.endswith("/fp16") for init in step.graph.initializer)
    proto = add_generation_loop(from_float16(step) if stored16 else step)
    proto = to_float16(proto) if stored16 else proto
    data = proto.SerializeToString()
    meta["outputs"].update(LOOP_OUTPUTS_META)
    meta["generation"] = {**LOOP_META, "added_by": command}
    meta["sha256"] = sha256_hex(data)
    for path, payload in ((onnx_path, data), (json_path, dump_json(sealed(meta)))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(payload)
        tmp.replace(path)
    try:
        check_loop(ShakespeareGenerator.load(onnx_path), log)
    except Exception:
        onnx_path.write_bytes(old[0])
        json_path.write_bytes(old[1])
        raise
    return onnx_path, json_path


def random_steering(n_chars: int, states: int = 6, seed: int = 0):
    """An arbitrary automaton (models.steer.Steering) to check the loop's steering against."""
    from bardbot.models.steer import Steering

    rng = np.random.default_rng(seed)
    return Steering(rng.uniform(0.2, 50.0, (states, n_chars)),
                    rng.integers(0, states, (states, n_chars)), start=1, floor=1e-3)


def check_loop(gen, log=print, length: int = 150) -> dict:
    """The one-run generator vs the Python step loop: same seeds -> same chars. A difference
    fails the export with its first differing char and how near that draw was to a tie."""
    from bardbot.export import loop_diff
    from bardbot.trainer.runs import UserError

    prompts = ["ROMEO:\n", "to be, or not to be", "", "x" * 5000]
    cases = {str(t): [(p, t, s, {}) for s, p in enumerate(prompts)] for t in (0.0, 0.5, 1.0)}
    if gen.has_steering:
        extra = {"steering": random_steering(gen.encoding.size), "stop_at_blank_line": True}
        cases["steered, stopping at a blank line"] = [
            (p, t, s, extra) for s, p in enumerate(prompts[:3]) for t in (0.5, 1.0)]
        cases["stopping at an end char"] = [
            (p, t, s, {"end_after": after})
            for s, p in enumerate(prompts[:3]) for t in (0.5, 1.0) for after in (0, 20)]
    result, first = {}, ""
    for name, runs in cases.items():
        result[name] = True
        for prompt, temperature, seed, kwargs in runs:
            one_run = gen.generate(prompt, length, temperature, seed=seed, **kwargs)
            steps = gen.generate_steps(prompt, length, temperature, seed=seed, **kwargs)
            if one_run != steps:
                result[name] = False
                first = first or loop_diff.describe(gen, prompt, temperature, seed, one_run,
                                                    steps, steered="steering" in kwargs)
    log(f"one-run generation equals the step loop (T: same chars): {result}")
    if first:
        raise UserError(f"{gen.info['file']}: the generation loop differs from the step loop "
                        f"({first})")
    return result
