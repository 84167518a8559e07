"""Character-level Shakespeare generators on onnxruntime: the reference and the bard.

The ONNX step model takes a run of char ids plus the LSTM state (h, c) and returns the
next-char probabilities after every id plus the new state. A model exported with a generation
loop (`new_ids` output, see export/generator.py) reads the prompt and draws every new char in
one session run, from uniforms drawn here with the seeded numpy generator, so no Python runs
per character. Without the loop, the prompt goes through the step model in one run, then each
new char costs one run of length 1 (`generate_steps`, the same text for the same seed).
In "windowed" mode (chosen at export when running statefully was measurably
worse than the training windows) each char is instead predicted from the last `window` chars
from zero state, exactly like the reference loop.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from pathlib import Path

import numpy as np
from bardbot.models import metadata, play, sampling, steer
from bardbot.models.errors import ModelError
from bardbot.models.steer import Steering
from bardbot.models.text import CharEncoding

KIND = "shakespeare"
INPUTS = {"char_ids": "int64", "h": "float32", "c": "float32"}
OUTPUTS = ("probs", "h_out", "c_out")
LOOP_OUTPUT = "new_ids"  # models with a generation loop also take `uniforms` and `temperature`
# The bard's loop also takes `steer_gain`, `steer_next`, `steer_start`, `steer_floor`,
# `stop_id`, `end_chars` and `end_after` (models/steer.py, export/generator.py).
STEERING_INPUTS = {"steer_gain", "steer_next", "steer_start", "steer_floor", "stop_id",
                   "end_chars", "end_after"}
MODES = ("stateful", "windowed")
# Chars per session run when reading long texts: bounds memory (probs are chunk x n_chars).
CHUNK = 4096


class _Stepper:
    """Feeds one char at a time through the step model without allocating anything.

    Two IO bindings share the id and probability buffers and swap the (h, c) buffers between
    input and output on alternate steps, so the state never leaves the bound arrays. This saves
    ~5 of the ~25 us a plain `session.run` costs per char. Made per `generate` call: bindings
    are not shared between threads.
    """

    def __init__(self, session, probs: np.ndarray, h: np.ndarray, c: np.ndarray) -> None:
        self._session = session
        self._ids = np.zeros((1, 1), dtype=np.int64)
        self._probs = np.zeros((1, 1, probs.shape[-1]), dtype=np.float32)
        self._probs[0, 0] = probs
        states = [(np.array(h, dtype=np.float32), np.array(c, dtype=np.float32))]
        states.append((np.empty_like(states[0][0]), np.empty_like(states[0][1])))
        self._bindings = []
        for (h_in, c_in), (h_out, c_out) in (states, states[::-1]):
            binding = session.io_binding()
            binding.bind_cpu_input("char_ids", self._ids)
            binding.bind_cpu_input("h", h_in)
            binding.bind_cpu_input("c", c_in)
            for name, array in (("probs", self._probs), ("h_out", h_out), ("c_out", c_out)):
                binding.bind_output(name, "cpu", 0, np.float32, list(array.shape),
                                    array.ctypes.data)
            self._bindings.append((binding, (h_in, c_in, h_out, c_out)))
        self._turn = 0

    @property
    def probs(self) -> np.ndarray:
        """P(next char); overwritten by the next step."""
        return self._probs[0, 0]

    def step(self, char_id: int) -> None:
        self._ids[0, 0] = char_id
        self._session.run_with_iobinding(self._bindings[self._turn][0])
        self._turn ^= 1


class _Drawer:
    """Draws each char like `sample_index`, with the steering automaton's gains when given."""

    def __init__(self, temperature: float, rng: np.random.Generator,
                 steering: Steering | None) -> None:
        self._temperature, self._rng, self._steering = temperature, rng, steering
        self._state = steering.start if steering is not None else 0

    def __call__(self, probs: np.ndarray) -> int:
        steering = self._steering
        if steering is None:
            return sampling.sample_index(probs, self._temperature, self._rng)
        if self._temperature <= 0:
            index = int(np.argmax(probs))
        else:
            weights = sampling.reweight(probs, self._temperature)
            index = sampling.draw_index(steering.weights(self._state, probs, weights), self._rng)
        self._state = int(steering.next[self._state, index])
        return index


class ShakespeareGenerator:
    """Load once, share freely: every call keeps its state and RNG in local variables."""

    max_length = 2000

    def __init__(
        self, session, encoding: CharEncoding, hidden: int, window: int, mode: str, info: dict
    ) -> None:
        self._session = session
        self.has_loop = mode == "stateful" and LOOP_OUTPUT in {
            o.name for o in session.get_outputs()}
        self.encoding = encoding
        self.hidden = hidden
        self.window = window
        self.mode = mode
        self.info = info
        # The context used when a prompt has no known character: a line break (or a space),
        # the way text starts in the plays.
        start = next((ch for ch in "\n " if ch in encoding.chars), encoding.chars[0])
        self._start_id = encoding.chars.index(start)
        self._newline = encoding.chars.index("\n") if "\n" in encoding.chars else -1
        self._reply_ends = np.array([ch in play.REPLY_ENDS for ch in encoding.chars])
        optional = {i.name for i in session.get_overridable_initializers()}
        self.has_steering = self.has_loop and optional >= STEERING_INPUTS

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 1) -> ShakespeareGenerator:
        """Load a shipped model by name ("bard", "reference") or an .onnx path (with its .json
        beside it); default: the shipped default (models.metadata.DEFAULT_MODEL)."""
        model = metadata.read_model(path, KIND)
        metadata.require_io(model, KIND, INPUTS, set(OUTPUTS))
        meta = model.meta
        try:
            encoding = CharEncoding.from_dict(meta["encoding"])
            hidden = int(meta["hidden"])
            window = int(meta["window"])
            mode = meta["mode"]
            if mode not in MODES or hidden <= 0 or window <= 0:
                raise ValueError(f"mode {mode!r}, hidden {hidden}, window {window}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{model.json_path}: bad model settings ({exc}); {metadata.rebuild_hint(KIND)}"
            ) from exc
        session = metadata.create_session(model, KIND, threads)
        n_out = session.get_outputs()[[o.name for o in session.get_outputs()].index("probs")]
        if n_out.shape[-1] != encoding.size:
            raise ModelError(
                f"{model.onnx_path}: {n_out.shape[-1]} output chars, but "
                f"{model.json_path.name} has {encoding.size}; {metadata.rebuild_hint(KIND)}"
            )
        state = {i.name: i.shape for i in session.get_inputs()}["h"]
        if state[-1] != hidden:
            raise ModelError(
                f"{model.onnx_path}: LSTM state of {state[-1]} units, but "
                f"{model.json_path.name} says hidden {hidden}; {metadata.rebuild_hint(KIND)}"
            )
        info = metadata.public_info(model)
        info.update(n_chars=encoding.size, max_length=cls.max_length,
                    name=metadata.model_name(model.onnx_path, KIND))
        return cls(session, encoding, hidden, window, mode, info)

    @property
    def name(self) -> str:
        """The shipped name ("bard", "reference") or the file's path."""
        return self.info["name"]

    @property
    def writes_plays(self) -> bool:
        """Whether `answer` writes a speaker's speech: only a case-kept model knows `NAME:` lines
        from the rest of the text."""
        return not self.encoding.lowercase

    def normalize(self, text: str) -> str:
        """The text as the model sees it (lowercased if the model is, unseen chars mapped or
        dropped)."""
        return self.encoding.normalize(text)

    def next_char_probs(self, ids) -> np.ndarray:
        """P(next char) after each of `ids`, read from zero state: (len(ids), n_chars).

        What the model predicts at every position of a text (parity checks, scoring)."""
        ids = np.asarray(ids).reshape(-1)
        if (not len(ids) or ids.dtype.kind not in "iu" or ids.min() < 0
                or ids.max() >= self.encoding.size):
            raise ValueError(f"ids must be a non-empty sequence of char ids in "
                             f"[0, {self.encoding.size})")
        return self._run(ids, *self._zero_state())[0]

    def _zero_state(self) -> tuple[np.ndarray, np.ndarray]:
        zeros = np.zeros((1, self.hidden), dtype=np.float32)
        return zeros, zeros

    def _run(self, ids, h, c):
        """Probabilities after each id (len(ids), n_chars) and the state after the last."""
        feed = {"char_ids": np.asarray(ids, dtype=np.int64).reshape(1, -1), "h": h, "c": c}
        probs, h, c = self._session.run(list(OUTPUTS), feed)
        return probs[0], h, c

    def _read(self, ids: np.ndarray, h, c):
        """Feed a long id sequence in chunks; returns the last probabilities and the state."""
        probs = None
        for i in range(0, len(ids), CHUNK):
            probs, h, c = self._run(ids[i : i + CHUNK], h, c)
        return probs[-1], h, c

    def _check(self, prompt, length, temperature, seed) -> tuple[int, float, np.random.Generator]:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be str, got {type(prompt).__name__}")
        # The seed first: a bad one fails even when nothing would be drawn (length 0).
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                                 or seed < 0):
            raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
        if isinstance(length, bool):
            raise TypeError("length must be an integer")
        length = operator.index(length)
        if not 0 <= length <= self.max_length:
            raise ValueError(f"length must be between 0 and {self.max_length}, got {length}")
        return length, sampling.check_temperature(temperature), np.random.default_rng(seed)

    def _prompt_ids(self, prompt: str) -> np.ndarray:
        ids = self.encoding.encode(prompt)
        return ids if len(ids) else np.array([self._start_id], dtype=np.int64)

    def generate(
        self, prompt: str, length: int = 200, temperature: float = 0.5, seed: int | None = None,
        *, steering: Steering | None = None, stop_at_blank_line: bool = False,
        end_after: int | None = None,
    ) -> str:
        """Exactly `length` new characters after `prompt` (prompt excluded).

        temperature <= 0 is greedy; the same seed gives the same text. A prompt with no
        character the model knows starts from a line break. `steering` (models/steer.py) makes
        its target words more likely; `stop_at_blank_line` ends the text after the first blank
        line it writes (a speech's end), and `end_after` after the first sentence or line end
        (play.REPLY_ENDS) written once `end_after` chars are, so it may be shorter than
        `length`.
        """
        length, temperature, rng = self._check(prompt, length, temperature, seed)
        end_after = self._check_end_after(end_after)
        extras = steering is not None or stop_at_blank_line or end_after is not None
        if not self.has_loop or (extras and not self.has_steering):
            return self._generate_steps(prompt, length, temperature, rng, steering,
                                        stop_at_blank_line, end_after)
        if length == 0:
            return ""
        # One uniform per char, drawn exactly as the step loop draws them (none when greedy).
        uniforms = rng.random(length) if temperature > 0 else np.zeros(length)
        ids = self._prompt_ids(prompt)
        h, c = self._zero_state()
        if len(ids) > CHUNK:
            _, h, c = self._read(ids[:-CHUNK], h, c)
            ids = ids[-CHUNK:]
        feed = {"char_ids": ids.reshape(1, -1), "h": h, "c": c, "uniforms": uniforms,
                "temperature": np.array(temperature, dtype=np.float64)}
        if steering is not None:
            # The loop takes its steered branch for tables of two or more states.
            gain, nxt = (np.repeat(t, 2, axis=0) if len(t) == 1 else t
                         for t in (steering.gain, steering.next))
            feed.update(steer_gain=gain, steer_next=nxt,
                        steer_start=np.array(steering.start, dtype=np.int64),
                        steer_floor=np.array(steering.floor, dtype=np.float64))
        if stop_at_blank_line:
            feed["stop_id"] = np.array(self._newline, dtype=np.int64)
        if end_after is not None:
            feed.update(end_chars=self._reply_ends,
                        end_after=np.array(end_after, dtype=np.int64))
        (new,) = self._session.run([LOOP_OUTPUT], feed)
        return self.encoding.decode(new)

    def generate_steps(
        self, prompt: str, length: int = 200, temperature: float = 0.5, seed: int | None = None,
        *, steering: Steering | None = None, stop_at_blank_line: bool = False,
        end_after: int | None = None,
    ) -> str:
        """`generate` with Python drawing each char from the step model's probabilities
        (models.sampling): the reference loop the one-run generator is checked against."""
        length, temperature, rng = self._check(prompt, length, temperature, seed)
        return self._generate_steps(prompt, length, temperature, rng, steering,
                                    stop_at_blank_line, self._check_end_after(end_after))

    @staticmethod
    def _check_end_after(end_after: int | None) -> int | None:
        if end_after is None:
            return None
        if isinstance(end_after, bool) or not isinstance(end_after, int | np.integer):
            raise TypeError("end_after must be None or an integer")
        if end_after < 0:
            raise ValueError(f"end_after must be >= 0, got {end_after}")
        return int(end_after)

    def _stops(self, out: list[int], stop_at_blank_line: bool, end_after: int | None) -> bool:
        """Whether the text drawn so far ends where the loop graph stops (export/generator.py)."""
        if stop_at_blank_line and out[-2:] == [self._newline] * 2:
            return True
        return (end_after is not None and len(out) > end_after
                and bool(self._reply_ends[out[-1]]))

    def _generate_steps(self, prompt: str, length: int, temperature: float,
                        rng: np.random.Generator, steering: Steering | None = None,
                        stop_at_blank_line: bool = False, end_after: int | None = None) -> str:
        if length == 0:
            return ""
        ids = self._prompt_ids(prompt)
        out: list[int] = []
        if self.mode == "windowed":
            context = deque(ids[-self.window :].tolist(), maxlen=self.window)
            draw = _Drawer(temperature, rng, steering)
            for _ in range(length):
                probs, _, _ = self._run(list(context), *self._zero_state())
                out.append(draw(probs[-1]))
                context.append(out[-1])
                if self._stops(out, stop_at_blank_line, end_after):
                    break
        else:
            stepper = _Stepper(self._session, *self._read(ids, *self._zero_state()))
            draw = _Drawer(temperature, rng, steering)
            for i in range(length):
                out.append(draw(stepper.probs))
                if self._stops(out, stop_at_blank_line, end_after):
                    break
                if i + 1 < length:
                    stepper.step(out[-1])
        return self.encoding.decode(out)

    def answer(self, message: str, speaker: str, length: int = 200, temperature: float = 0.5,
               seed: int | None = None) -> str:
        """`speaker`'s speech answering `message` in play form (models/play.py), steered
        towards the message's words and their neighbours (models/steer.py), generated only up
        to the speech's end, or its first sentence or line end past part of `length`
        (play.reply_end_after), and cut to `length` at a word boundary."""
        self._check(message, length, temperature, seed)
        lexicon = steer.shipped_lexicon()
        rng = np.random.default_rng(seed)
        opening = steer.opening(message, lexicon, rng)
        steering = steer.build(self.encoding, lexicon.targets(message), lexicon)
        steering = steering.after(self.encoding.encode(opening))
        prompt = play.play_prompt(message, speaker) + opening
        # The whole draw comes from `seed`: the opening's two uniforms, then the text's.
        more = max(0, play.generated_length(length) - len(opening))
        end_after = max(0, play.reply_end_after(length) - len(opening))
        text = self.generate(prompt, more, temperature, seed=int(rng.integers(2**63)),
                             steering=steering, stop_at_blank_line=True, end_after=end_after)
        return play.speech(opening + text, length)

    def loss(self, text: str, context: str = "") -> float:
        """Mean cross-entropy (nats/char) of each char given all before it, from zero state.

        Without `context`, scored over `normalize(text)[1:]` (needs at least two characters
        after normalizing); with it, over all of `text` read after `context` (a reply after
        its prompt).
        """
        for name, value in (("text", text), ("context", context)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be str, got {type(value).__name__}")
        ids = self.encoding.encode(text)
        start = len(self.encoding.encode(context))
        if start:
            ids = np.concatenate([self.encoding.encode(context), ids])
        else:
            start = 1
        if len(ids) - start < 1:
            raise ValueError("loss needs at least 2 characters the model knows")
        h, c = self._zero_state()
        total = 0.0
        for i in range(0, len(ids) - 1, CHUNK):
            chunk = ids[i : min(i + CHUNK, len(ids) - 1)]
            probs, h, c = self._run(chunk, h, c)
            targets = ids[i + 1 : i + 1 + len(chunk)]
            picked = probs[np.arange(len(chunk)), targets].astype(np.float64)
            scored = np.arange(i + 1, i + 1 + len(chunk)) >= start
            total -= float(np.log(np.maximum(picked[scored], sampling.PROB_FLOOR)).sum())
        result = total / (len(ids) - start)
        if not math.isfinite(result):
            raise ModelError(
                f"{self.info.get('file')}: returned invalid probabilities; "
                f"{metadata.rebuild_hint(KIND)}"
            )
        return result
