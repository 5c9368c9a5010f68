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

from grader.harness import protocol
from grader.runner.conversation import MAX_RECORDS, GradingConversation

SECRET_LOOKING = b"0123456789abcdef" * 256  # what a forward() could have hex-encoded from the inputs


def evaluating() -> GradingConversation:
    talk = GradingConversation(
        {"seed": 0},
        np.zeros((4, 2), np.float32),
        eval_seconds=5,
        hello_seen={"v": 1, "torch": "x", "device": "cpu"},
    )
    talk.on_metrics(protocol.encode_record("start", seed=0, mode="script", device="cpu"))
    talk.on_metrics(protocol.encode_record("trained", reason="finished", steps=1, seconds=1.0))
    assert talk.evaluating
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
            "the results channel carried an unexpected frame",
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


def test_valid_predictions_in_pieces_and_then_the_weights():
    talk = evaluating()
    data = protocol.frame_header("predictions", len(npy(np.ones((4, 1), np.float32))))
    data += npy(np.ones((4, 1), np.float32)) + protocol.frame_header("weights", 3) + b"abc"
    for i in range(0, len(data), 7):
        talk.on_results(data[i : i + 7])
    assert talk.predictions is not None and talk.predictions.shape == (4, 1) and talk.weights == b"abc"


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
