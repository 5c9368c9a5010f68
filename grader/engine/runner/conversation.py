"""The host's half of the grading protocol with one sandbox.

States: waiting for hello -> job sent -> training (metrics flow) -> the weights
and an end frame on the results pipe, and the "trained" record on the metrics
pipe (either pipe first) -> evaluation inputs sent (logs frozen, metrics ignored,
nothing but one predictions frame read) -> predictions in -> done. The weights
are read before the hidden inputs are sent, never after. The host trusts no record for the score:
records only describe training; the score comes from predictions alone.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from grader.engine.harness import protocol
from grader.engine.runner.measure import parameter_count
from grader.engine.training import Training

MAX_METRICS_BYTES = 32 * 1024 * 1024
# Records read from one run, at most: a normal run sends hundreds (points are batched about once a
# second); past this, a flood of tiny records costs the host nothing more than reading bytes.
MAX_RECORDS = 20_000
# And at most this many per second, after a first burst: the harness sends a few a second (records
# are batched), so a flood costs the host what a normal run does, per second of the run.
RECORDS_PER_SECOND = 50
RECORD_BURST = 1000
ENDING_RECORD = re.compile(rb'\{"t":"(?:trained|failed)"')
MAX_WEIGHTS_BYTES = 64 * 1024 * 1024
MAX_WEIGHTS_FRAMES = 4  # the harness sends one; a few more are the submission's own, and evidence
END_OF_TRAINING = protocol.frame_header("trained", 0)
MAX_PROBES = 32
MAX_HELDOUT = 400


class GradingConversation:
    def __init__(
        self,
        job: dict[str, Any],
        eval_inputs: np.ndarray,
        eval_seconds: float,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        hello_seen: dict[str, Any] | None = None,
        checks_seconds: float | None = None,
    ) -> None:
        self.job = job
        self.eval_inputs = eval_inputs
        self.eval_seconds = eval_seconds
        self.checks_seconds = checks_seconds if checks_seconds is not None else eval_seconds
        self.on_progress = on_progress
        self.training = Training(hello=hello_seen)
        self.done = False
        self.logs_open = True
        self.deadline: float | None = None
        self.deadline_reason = "evaluation_timeout"
        self.evaluating = False
        self.predictions: np.ndarray | None = None
        self.prediction_error: str | None = None
        self.model_raised = False  # the model raised an exception on the evaluation inputs
        self.weights: bytes | None = None
        # The harness's end frame on the results pipe: the weights before it are all in, and with the
        # "trained" record (the other pipe) the inputs may go.
        self.results_ended = False
        self._end_carry = b""
        self.weights_frames = 0
        self.measured_parameters: list[int | None] = []  # of every weights frame (measure.py)
        self._out = b""
        self._metrics_buffer = b""
        self._allowance, self._refilled = float(RECORD_BURST), time.monotonic()
        self._results_buffer = bytearray()
        self._results_header: dict[str, Any] | None = None
        self._max_predictions = eval_inputs.shape[0] * 64 * 4 + 4096
        self.mismatch: str | None = None  # the harness's protocol is not this host's (the platform's fault)
        if hello_seen is not None:
            self._send_job()

    # -- outgoing -------------------------------------------------------------
    def outgoing(self) -> bytes:
        return self._out

    def sent(self, count: int) -> None:
        self._out = self._out[count:]

    def _send_job(self) -> None:
        payload = json.dumps(self.job).encode()
        self._out += protocol.frame_header("job", len(payload)) + payload

    def _send_eval(self) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(self.eval_inputs, dtype=np.float32), allow_pickle=False)
        data = buffer.getvalue()
        self._out += protocol.frame_header("eval", len(data)) + data
        self.evaluating = True
        self.logs_open = False
        self.deadline_reason = "evaluation_timeout"
        del self._results_buffer[:]  # in place (a reader may hold it): nothing before this is a prediction
        self.deadline = time.monotonic() + self.eval_seconds

    # -- metrics --------------------------------------------------------------
    def on_metrics(self, data: bytes) -> None:
        """Records, one per line: each byte looked at once, at most MAX_RECORDS parsed (linear, bounded)."""
        t = self.training
        if self.evaluating or self.done:
            return
        t.metrics_bytes += len(data)
        now = time.monotonic()
        self._allowance = min(RECORD_BURST, self._allowance + (now - self._refilled) * RECORDS_PER_SECOND)
        self._refilled = now
        if t.metrics_bytes > MAX_METRICS_BYTES or t.records_read >= MAX_RECORDS or self._allowance < 1:
            self._only_the_end(data)
            return
        buffer = self._metrics_buffer + data if self._metrics_buffer else data
        start = 0
        while not self.evaluating and not self.done:
            if t.records_read >= MAX_RECORDS or self._allowance < 1:
                # Faster than any harness writes: the rest is only searched for the run's end.
                self._metrics_buffer = b""
                self._only_the_end(buffer[start:])
                return
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            t.records_read += 1
            self._allowance -= 1
            self._record(buffer[start:end])
            start = end + 1
        rest = buffer[start:]
        if len(rest) > protocol.MAX_RECORD_BYTES:
            rest = b""
            t.rejected_records += 1
        self._metrics_buffer = rest

    def _only_the_end(self, data: bytes) -> None:
        """Past the caps, curves are no longer read, but a run must still end: one regular-expression
        scan finds the records that end it ("trained", "failed") by their start, each byte looked at
        about once; a line that is not complete waits for the next chunk (at most a record's size)."""
        buffer = self._metrics_buffer + data if self._metrics_buffer else data
        start = 0
        while not (self.evaluating or self.done):
            found = ENDING_RECORD.search(buffer, start)
            if found is None:  # keep what could be the start of one, split between two chunks
                start = max(start, len(buffer) - len(b'{"t":"trained"'))
                break
            end = buffer.find(b"\n", found.start(), found.start() + protocol.MAX_RECORD_BYTES + 1)
            if end < 0:  # not complete yet, or longer than any record (then dropped)
                incomplete = len(buffer) - found.start() <= protocol.MAX_RECORD_BYTES
                start = found.start() if incomplete else len(buffer)
                break
            self._record(buffer[found.start() : end])
            start = end + 1
        self._metrics_buffer = buffer[start:]

    def _record(self, line: bytes) -> None:
        try:
            record = protocol.decode_record(line)
            self._take(record)
        except Exception:  # noqa: BLE001 - no record from the sandbox may raise on the host
            self.training.rejected_records += 1

    def _take(self, record: dict[str, Any]) -> None:
        kind = record.pop("t")
        t = self.training
        if kind == "hello" and t.hello is None:
            t.hello = record
            self.mismatch = protocol.version_mismatch(record)
            if self.mismatch is None:
                self._send_job()
            else:
                self.done = True  # no job goes to a harness that would misread it
        elif t.hello is None or (kind != "start" and t.started is None):
            t.rejected_records += (
                1  # out of order: nothing precedes hello, nothing but start precedes student code
            )
        elif kind == "start" and t.started is None:
            t.started = record
        elif kind == "points":
            self._add_points(record)
        elif kind == "progress":
            t.progress = record
            if self.on_progress:
                self.on_progress(record)
        elif kind == "warning":
            if len(t.warnings) < 100:
                t.warnings.append(record)
        elif kind == "counters":
            t.counters = record
        elif kind == "heldout":
            if len(t.heldout) >= MAX_HELDOUT:
                t.heldout.pop()  # the latest is kept: the last point is the final model's, as graded
            t.heldout.append((record["step"], record["values"]))
        elif kind == "final_outputs" and t.final_outputs is None:
            t.final_outputs = record["values"]
        elif kind == "phase" and record["name"] == "checks" and t.trained is None and self.deadline is None:
            # The harness calls the trained model itself now: a hang there is the model's, said as such.
            # A record the student's code forges can only bring this deadline forward, never past the wall.
            self.deadline = time.monotonic() + self.checks_seconds
            self.deadline_reason = "checks_timeout"
        elif kind == "probe" and len(t.probes) < MAX_PROBES:
            t.probes[record["name"]] = record["data"]
        elif kind == "model":
            if isinstance(record.get("params"), int) and len(t.claimed_parameters) < 16:
                t.claimed_parameters.append(record["params"])
            if t.model is None:
                t.model = record  # a claim, checked against the host's own count (measure.py)
            else:
                t.repeated["model"] = t.repeated.get("model", 0) + 1
        elif kind == "settings":
            t.settings = record
        elif kind == "early_stopping":
            t.early_stopping = record
        elif kind == "failed" and t.failure is None and t.trained is None:
            t.failure = record
            self.done = True
        elif kind == "trained" and t.trained is None and t.failure is None:
            t.trained = record
            if self.results_ended:  # the weights are in: the other pipe said so
                self._send_eval()
        elif kind == "trained":
            t.repeated["trained"] = t.repeated.get("trained", 0) + 1
        else:
            t.rejected_records += 1

    def _add_points(self, record: dict[str, Any]) -> None:
        curves = self.training.curves
        name = record["series"]
        if name not in curves and len(curves) >= protocol.MAX_SERIES:
            self.training.rejected_records += 1
            return
        xs, ys = curves.setdefault(name, ([], []))
        xs.extend(record["x"])
        ys.extend(record["y"])

    # -- results --------------------------------------------------------------
    # What is said of a bad results channel is the host's own words: everything on it was written after
    # the hidden inputs entered the sandbox, so none of its text or numbers may reach a person.
    NOT_A_FRAME = "the results channel carried something that is not a frame"
    UNREADABLE = "the results channel carried a frame the grader cannot read"
    NOT_AN_ARRAY = "the predictions are not one plain numeric array"
    UNEXPECTED = "the results channel carried an unexpected frame"

    def on_results(self, data: bytes) -> None:
        if self.done or (self.results_ended and not self.evaluating):
            return  # between the end of training and the inputs, nothing on this channel counts
        if not self.evaluating and self.weights_frames >= MAX_WEIGHTS_FRAMES:
            self._find_end(data)
            return
        self._results_buffer += data  # a bytearray: appending is amortised, never a copy of all so far
        try:
            self._frames()
        except Exception:  # noqa: BLE001 - no frame from the sandbox may raise on the host
            del self._results_buffer[:]
            self._bad_frame(self.UNREADABLE)

    def _frames(self) -> None:
        buffer = self._results_buffer
        while not self.done and (self.evaluating or not self.results_ended):
            if not self.evaluating and self.weights_frames >= MAX_WEIGHTS_FRAMES:
                rest = bytes(buffer)
                del buffer[:]
                self._results_header = None
                self._find_end(rest)
                return
            if self._results_header is None:
                end = buffer.find(b"\n", 0, protocol.MAX_HEADER_BYTES + 1)
                if end < 0:
                    if len(buffer) <= protocol.MAX_HEADER_BYTES:
                        return
                    del buffer[: protocol.MAX_HEADER_BYTES + 1]
                    self._bad_frame(self.NOT_A_FRAME)
                    continue
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                limit = self._max_predictions if self.evaluating else MAX_WEIGHTS_BYTES
                try:
                    self._results_header = protocol.parse_frame_header(line, limit)
                except protocol.ProtocolError:
                    self._bad_frame(self.UNREADABLE)
                    continue
            size = self._results_header["bytes"]
            if len(buffer) < size:
                return
            payload = bytes(buffer[:size])
            del buffer[:size]
            kind = self._results_header["t"]
            self._results_header = None
            if self.evaluating:
                self._frame(kind, payload)
            elif kind == "trained":
                self._results_end()
            else:
                self._weights_in(payload if kind == "weights" and payload else None)

    def _weights_in(self, payload: bytes | None) -> None:
        """Weights as training left them (None: unreadable), before the inputs go in.

        Student code can write frames too: each one is measured, the last is kept, and the budget
        is checked against the largest (measure.py), so a forged small model hides nothing. The
        harness's own frame always comes: it is on the same pipe as, and before, its end frame.
        """
        self.weights_frames += 1
        self.measured_parameters.append(parameter_count(payload))
        if payload is not None:
            self.weights = payload

    def _find_end(self, data: bytes) -> None:
        """Past MAX_WEIGHTS_FRAMES, only the harness's end frame is looked for (one search a chunk)."""
        buffer = self._end_carry + data
        if buffer.find(END_OF_TRAINING) >= 0:
            self._end_carry = b""
            self._results_end()
        else:
            self._end_carry = buffer[-(len(END_OF_TRAINING) - 1) :]

    def _results_end(self) -> None:
        """The harness's end frame: every frame before it on this pipe has been read."""
        self.results_ended = True
        del self._results_buffer[:]  # in place: what follows it, before the inputs, is nobody's weights
        self._results_header = None
        if self.training.trained is not None and not self.evaluating:
            self._send_eval()

    def _bad_frame(self, message: str) -> None:
        """What could not be read (already dropped): fatal to predictions, before them unreadable weights."""
        self._results_header = None
        if self.evaluating:
            self._fail_predictions(message)
        else:
            self._weights_in(None)

    def _frame(self, kind: str, payload: bytes) -> None:
        if kind == "predictions" and self.predictions is None:
            try:
                loaded = np.load(io.BytesIO(payload), allow_pickle=False)
            except (ValueError, OSError, EOFError):
                loaded = None
            if isinstance(loaded, np.ndarray):
                self.predictions = loaded
                self.done = True
            else:  # a zip of arrays (NpzFile), or nothing readable
                self._fail_predictions(self.NOT_AN_ARRAY)
        elif kind == "eval_error":
            # Nothing of the frame is read: it was written while the hidden inputs were inside. What the
            # model raised on public inputs, before them, is what the student is shown (session.py).
            self.model_raised = True
            self._fail_predictions("your model raised an exception while predicting on the evaluation inputs")
        else:
            self._fail_predictions(self.UNEXPECTED)

    def _fail_predictions(self, message: str) -> None:
        if self.predictions is None:
            self.prediction_error = message
        self.done = True
