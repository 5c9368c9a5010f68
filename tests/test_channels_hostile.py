"""The host's readers of what a sandbox sends are hostile-proof: bounded, linear, and silent about it.

Everything on the metrics and results channels is written by code the student controls. Once the
hidden inputs are in the sandbox, nothing it writes may reach a person: the host's messages about a
bad results channel are its own fixed words (issue 16, finding 1). A zip of arrays is not a
prediction, and no bytes whatever make the host raise (finding 3). Reading a flood of records costs
the host time linear in the bytes, and bounded (finding 4).
"""

from __future__ import annotations

import io
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.engine.harness import protocol
from grader.engine.runner.conversation import MAX_RECORDS, GradingConversation

SECRET_LOOKING = b"0123456789abcdef" * 256  # what a forward() could have hex-encoded from the inputs
END = protocol.frame_header("trained", 0)  # the harness's end of training, after its weights


def started() -> GradingConversation:
    """A conversation whose student code has started (records flow, nothing sent yet)."""
    talk = GradingConversation(
        {"seed": 0},
        np.zeros((4, 2), np.float32),
        eval_seconds=5,
        hello_seen={"v": 1, "torch": "x", "device": "cpu"},
    )
    talk.on_metrics(protocol.encode_record("start", seed=0, mode="script", device="cpu"))
    return talk


def evaluating() -> GradingConversation:
    talk = started()
    talk.on_results(protocol.frame_header("weights", 3) + b"abc" + END)
    talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
    assert talk.evaluating and talk.weights == b"abc"
    return talk


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_what_the_results_channel_says_never_reaches_a_person():
    frames = {
        "an unexpected frame named after the inputs": b'{"t":"' + SECRET_LOOKING[:3000] + b'","bytes":0}\n',
        "a header that is not one": SECRET_LOOKING * 2,
        "an oversize frame": b'{"t":"predictions","bytes":' + b"9" * 15 + b"}\n",
        "a broken .npy header": protocol.frame_header("predictions", 40)
        + b"\x93NUMPY\x01\x00"
        + SECRET_LOOKING[:32],
    }
    for what, data in frames.items():
        talk = evaluating()
        talk.on_results(data)
        assert talk.done and talk.predictions is None, what
        told = talk.prediction_error or ""
        assert told in (
            GradingConversation.NOT_A_FRAME,
            GradingConversation.UNREADABLE,
            GradingConversation.NOT_AN_ARRAY,
            GradingConversation.UNEXPECTED,
        ), (what, told)
        assert "0123" not in told and "999" not in told, what


def test_a_zip_of_arrays_is_bad_predictions_not_a_crash():
    buffer = io.BytesIO()
    np.savez(buffer, a=np.zeros(4), b=np.ones(4))
    zipped = buffer.getvalue()
    talk = evaluating()
    talk.on_results(protocol.frame_header("predictions", len(zipped)) + zipped)
    assert talk.predictions is None and talk.prediction_error == GradingConversation.NOT_AN_ARRAY


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_no_bytes_on_either_channel_make_the_host_raise(chunks):
    talk = evaluating()
    for chunk in chunks:
        talk.on_results(chunk)
    fresh = GradingConversation({"seed": 0}, np.zeros((4, 2), np.float32), eval_seconds=5)
    for chunk in chunks:
        fresh.on_metrics(chunk)
        fresh.on_metrics(b'{"t":"hello","v":1,"torch":"x","device":"cpu"}\n' + chunk + b"\n")


def test_the_weights_come_before_the_inputs_and_predictions_in_pieces_after():
    talk = started()
    talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
    assert not talk.evaluating  # "trained" came first (two pipes): the inputs wait for the weights
    weights = protocol.frame_header("weights", 3) + b"abc" + END
    for i in range(0, len(weights), 5):
        talk.on_results(weights[i : i + 5])
    assert talk.evaluating and talk.weights == b"abc"
    predictions = npy(np.ones((4, 1), np.float32))
    data = protocol.frame_header("predictions", len(predictions)) + predictions
    data += protocol.frame_header("weights", 6) + b"LEAKED"  # after the inputs went in: never read
    for i in range(0, len(data), 7):
        talk.on_results(data[i : i + 7])
    assert talk.predictions is not None and talk.predictions.shape == (4, 1)
    assert talk.done and talk.weights == b"abc"


def test_every_weights_frame_before_the_end_is_measured_whichever_pipe_is_read_first():
    """A forged small model, then the harness's own, then its end: both counted, never one dropped."""
    from safetensors.numpy import save

    tiny = save({"w": np.zeros(3, np.float32)}, metadata={"parameters": "w"})
    real = save({"w": np.zeros(1201, np.float32)}, metadata={"parameters": "w"})
    stream = protocol.frame_header("weights", len(tiny)) + tiny + protocol.frame_header("weights", len(real))
    stream += real + END + b"junk after the end, before the inputs"
    for trained_first in (True, False):
        talk = started()
        if trained_first:
            talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
        talk.on_results(stream)  # all at once, as a host that was busy reads it
        talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
        assert talk.evaluating and talk.measured_parameters == [3, 1201] and talk.weights == real


def test_junk_where_the_weights_go_still_lets_the_run_be_graded():
    talk = started()
    talk.on_results(SECRET_LOOKING * 2 + b"\n" * 100_000)  # the student's code wrote junk on the pipe
    talk.on_results(protocol.frame_header("weights", 3) + b"abc" + END)  # then the harness
    talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
    assert talk.evaluating and talk.prediction_error is None
    assert talk.weights_frames == 4 and talk.measured_parameters == [None] * 4  # capped, then the end found


def host_seconds(chunks: list[bytes]) -> float:
    talk = GradingConversation({"seed": 0}, np.zeros((4, 2), np.float32), eval_seconds=5)
    talk.on_metrics(protocol.encode_record("hello", v=1, torch="x", device="cpu"))
    talk.on_metrics(protocol.encode_record("start", seed=0, mode="script", device="cpu"))
    started = time.process_time()
    for chunk in chunks:
        talk.on_metrics(chunk)
    return time.process_time() - started


def test_a_flood_of_tiny_records_costs_the_host_no_more_than_a_normal_run():
    # What a normal run sends: about a record a second of batched points (two minutes of them), the
    # held-out predictions of its sampled steps, its probes.
    normal = [
        protocol.encode_record("points", series="loss", x=list(range(k * 500, k * 500 + 500)), y=[0.5] * 500)
        for k in range(120)
    ] + [protocol.encode_record("heldout", step=k, values=[0.1] * 256) for k in range(200)]
    normal_chunks = [b"".join(normal[i : i + 10]) for i in range(0, len(normal), 10)]
    # The flood: the metrics cap's worth of the smallest valid records, in pipe-sized chunks.
    tiny = protocol.encode_record("progress", step=1, elapsed=1, loss=None)
    flood = tiny * (32 * 1024 * 1024 // len(tiny))
    flood_chunks = [flood[i : i + 65536] for i in range(0, len(flood), 65536)]
    base = min(host_seconds(normal_chunks) for _ in range(3))
    cost = host_seconds(flood_chunks)
    assert cost <= 2 * base + 0.05, (cost, base)  # linear in bytes and capped in records
    assert MAX_RECORDS < len(flood) // len(tiny)


def test_past_every_cap_the_record_that_ends_the_run_is_still_found():
    talk = started()
    talk.on_results(protocol.frame_header("weights", 3) + b"abc" + END)
    tiny = protocol.encode_record("progress", step=1, elapsed=1, loss=None)
    flood = tiny * (33 * 1024 * 1024 // len(tiny)) + b"x" * 100_000  # and a line that never ends
    trained = protocol.encode_record("trained", reason="finished", steps=9, seconds=1.0)
    data = flood + b"\n" + trained
    cpu = time.process_time()
    for i in range(0, len(data), 65536):  # the record split between two chunks, as a pipe may give it
        talk.on_metrics(data[i : i + 65536])
    assert talk.evaluating and talk.training.trained == {"reason": "finished", "steps": 9, "seconds": 1.0}
    assert talk.training.records_read < 1100  # the first burst parsed (and a trickle), the rest searched
    assert time.process_time() - cpu < 0.5
