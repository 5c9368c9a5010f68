"""The wire protocol's validation, the metrics and the grading rule (no sandbox needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grader.engine.harness import protocol
from grader.engine.rules import Grading, Task
from grader.engine.runner.conversation import GradingConversation
from grader.engine.scoring import BadPredictions, check_predictions, disclosed, metric, points


def test_records_round_trip_and_nan_losses_survive():
    line = protocol.encode_record("points", series="loss", x=[0, 1], y=[1.5, float("nan")])
    record = protocol.decode_record(line.strip())
    assert record["y"][0] == 1.5 and np.isnan(record["y"][1])


@pytest.mark.parametrize(
    "record, problem",
    [
        ({"t": "score", "value": 100}, "unknown record type"),
        ({"t": "points", "series": "loss", "x": [0], "y": [1, 2]}, "differ in length"),
        ({"t": "points", "series": "loss", "x": [-1], "y": [1]}, "non-negative"),
        ({"t": "points", "series": "loss", "x": [0], "y": ["1"]}, "numbers or null"),
        ({"t": "failed", "kind": "internal_error", "message": "x"}, "unknown"),
        ({"t": "trained", "reason": "finished", "steps": 1, "seconds": 1, "score": 9}, "unexpected fields"),
        ({"t": "hello", "v": True, "torch": "x", "device": "cpu"}, "wrong type"),
    ],
)
def test_malformed_records_are_refused(record, problem):
    with pytest.raises(protocol.ProtocolError, match=problem):
        protocol.decode_record(json.dumps(record).encode())


def test_oversized_records_and_frames_are_refused():
    with pytest.raises(protocol.ProtocolError, match="too long"):
        protocol.decode_record(b"x" * (protocol.MAX_RECORD_BYTES + 1))
    with pytest.raises(protocol.ProtocolError, match="cap"):
        protocol.parse_frame_header(b'{"t":"predictions","bytes":1000}', max_payload=999)


def _conversation() -> GradingConversation:
    inputs = np.zeros((4, 2), np.float32)
    return GradingConversation(
        {"seed": 0}, inputs, eval_seconds=5, hello_seen={"v": 1, "torch": "x", "device": "cpu"}
    )


def test_records_out_of_order_are_ignored():
    talk = _conversation()
    talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
    assert talk.training.trained is None and talk.training.rejected_records == 1
    assert not talk.evaluating


def test_nothing_on_the_results_channel_counts_before_the_inputs_are_sent():
    talk = _conversation()
    talk.on_results(protocol.frame_header("predictions", 4) + b"xxxx")
    assert talk.predictions is None and not talk.done


def test_predictions_are_read_without_pickle():
    import io

    talk = _conversation()
    talk.on_metrics(protocol.encode_record("start", seed=0, mode="script", device="cpu"))
    # The weights and the end of training go out before the inputs go in.
    talk.on_results(protocol.frame_header("weights", 0) + protocol.frame_header("trained", 0))
    talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
    assert talk.evaluating and not talk.logs_open
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    payload = buffer.getvalue()
    talk.on_results(protocol.frame_header("predictions", len(payload)) + payload)
    assert talk.predictions is None and talk.prediction_error == GradingConversation.NOT_AN_ARRAY


def test_prediction_checks():
    assert check_predictions(np.ones((3, 1), np.float32), 3).shape == (3,)
    with pytest.raises(BadPredictions, match=r"shape \[3, 2\]"):
        check_predictions(np.ones((3, 2)), 3)
    with pytest.raises(BadPredictions, match="1 NaN"):
        check_predictions(np.array([1.0, np.nan, 2.0]), 3)
    with pytest.raises(BadPredictions, match="numbers"):
        check_predictions(np.array(["a", "b", "c"]), 3)


def test_metrics():
    y = np.array([1.0, 2.0, 3.0])
    p = np.array([1.0, 2.0, 5.0])
    assert metric("mse", p, y) == pytest.approx(4 / 3)
    assert metric("mae", p, y) == pytest.approx(2 / 3)
    assert metric("max_error", p, y) == 2
    assert metric("relative_error", p, y) == pytest.approx((2 / 3) / 3)
    # Near a zero of the target one point can dominate the mean; a cap bounds what it counts.
    near_zero = np.array([1.0, 2.0, 0.01])
    assert metric("relative_error", p, near_zero, floor=0.01) == pytest.approx((0 + 0 + 499) / 3)
    assert metric("relative_error", p, near_zero, floor=0.01, cap=1.0) == pytest.approx(1 / 3)
    assert metric("r2", y, y) == 1.0


def test_points_follow_the_grading_rule_between_the_thresholds():
    mse = Grading("mse", 1e-3, 1e-1)
    assert points(5e-4, mse) == 100
    assert points(1e-3, mse) == 100
    assert points(1e-2, mse) == 50
    assert points(0.2, mse) == 0
    assert points(1e-2, Grading("mse", 1e-3, 1e-1, rule="linear")) == pytest.approx(
        100 * 0.09 / 0.099, abs=0.01
    )
    assert points(2e-3, Grading("mse", 1e-3, 1e-1, rule="all-or-nothing")) == 0
    accuracy = Grading("accuracy", 0.99, 0.5, rule="linear", points=10)
    assert points(0.95, accuracy) == pytest.approx(10 * (0.45 / 0.49), abs=0.01)
    assert points(0.4, accuracy) == 0 and points(1.0, accuracy) == 10


def test_classification_predictions_follow_the_output_convention():
    probability, logit = Task("binary", "probability"), Task("binary", "logit")
    assert check_predictions(np.array([[0.2], [0.7], [0.5]]), 3, probability).tolist() == [0, 1, 1]
    assert check_predictions(np.array([-3.0, 0.1, 0.0]), 3, logit).tolist() == [0, 1, 1]
    with pytest.raises(BadPredictions, match=r"probability in \[0, 1\].*sigmoid"):
        check_predictions(np.array([-3.0, 0.1, 2.0]), 3, probability)
    scores = Task("multiclass", "scores", classes=3)
    assert check_predictions(np.array([[0.1, 2, 0], [5, 0, 0]]), 2, scores).tolist() == [1, 0]
    with pytest.raises(BadPredictions, match=r"expected \[2, 3\]: one score"):
        check_predictions(np.array([1.0, 0.0]), 2, scores)
    labels, guess = np.array([0, 0, 1, 1, 2, 2.0]), np.array([0, 0, 1, 2, 2, 2.0])
    assert metric("accuracy", guess, labels) == pytest.approx(5 / 6)
    f1 = (1.0 + 2 / 3 + 0.8) / 3  # per class: 2/2, 2*1/(2+0+1), 2*2/(4+1+0)
    assert metric("macro_f1", guess, labels) == pytest.approx(f1)


def test_records_that_would_overflow_or_recurse_on_the_host_are_refused():
    huge = b'{"t":"points","series":"loss","x":[1],"y":[' + b"9" * 400 + b"]}"
    enormous = b'{"t":"points","series":"loss","x":[1],"y":[' + b"9" * 5000 + b"]}"
    far = b'{"t":"points","series":"loss","x":[' + str(2**70).encode() + b'],"y":[1.0]}'
    for line in (huge, enormous, far, b"[" * 60000):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode_record(line)


def test_students_see_the_hidden_metric_to_two_significant_digits():
    """Differencing many submissions' scores must tell little about any one hidden target (issue 16)."""
    from dataclasses import replace

    rounded = Grading("mse", 1e-3, 1e-1)
    assert rounded.disclosure == "rounded"
    assert disclosed(0.000123456, rounded) == 0.00012 and disclosed(0.0456789, rounded) == 0.046
    assert disclosed(0.0, rounded) == 0.0 and disclosed(float("inf"), rounded) == float("inf")
    # One of 5,000 hidden targets moved by 1 changes a mean squared error by 2e-4 at most: invisible.
    assert disclosed(0.0123 + 2e-4 / 5, rounded) == disclosed(0.0123, rounded)
    exact = replace(rounded, disclosure="exact")
    assert disclosed(0.000123456, exact) == 0.000123456


def test_a_harness_of_another_protocol_version_is_the_platforms_failure_and_gets_no_job():
    """A sandbox image left behind by an upgrade: its harness is not the worker's (the Docker backend)."""
    from grader.engine.runner.session import RunRequest, _verdict
    from grader.engine.sandbox.supervise import SandboxOutcome
    from grader.engine.verdicts import Verdict

    talk = GradingConversation({"seed": 0}, np.zeros((4, 2), np.float32), eval_seconds=5)
    talk.on_metrics(protocol.encode_record("hello", v=protocol.VERSION + 1, torch="2.13.0", device="cpu"))
    assert talk.done and talk.outgoing() == b"" and "scripts/build-images" in (talk.mismatch or "")
    request = RunRequest(files={}, entry="m.py", mode="script", eval_inputs=np.zeros((4, 2), np.float32))
    verdict, message, _ = _verdict(request, talk, SandboxOutcome(exit_code=0))
    assert verdict is Verdict.INTERNAL_ERROR and "out of date" in message and "does not count" in message


def test_a_warm_sandbox_of_another_protocol_version_is_refused():
    import os
    import types

    from grader.engine.sandbox.bwrap import SandboxUnavailable
    from grader.engine.sandbox.pool import wait_for_hello

    read_end, write_end = os.pipe()
    try:
        os.write(write_end, protocol.encode_record("hello", v=protocol.VERSION + 1, torch="x", device="cpu"))
        sandbox = types.SimpleNamespace(metrics=read_end, poll=lambda: None)  # what wait_for_hello reads
        with pytest.raises(SandboxUnavailable, match="out of date"):
            wait_for_hello(sandbox, 5)
    finally:
        os.close(read_end)
        os.close(write_end)
