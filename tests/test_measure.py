"""The host's own count of a model's parameters, from the safetensors header its weights travel in."""

from __future__ import annotations

import json
import struct

import torch
from safetensors.torch import save

from grader.engine.runner.measure import parameter_count


def test_parameters_counted_from_the_header_and_buffers_left_out():
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    names = ",".join(name for name, _ in model.named_parameters())
    assert parameter_count(save(state, metadata={"parameters": names})) == sum(
        p.numel() for p in model.parameters()
    )
    assert parameter_count(save(state)) == sum(
        v.numel() for v in state.values()
    )  # no list: everything counts


def forged(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_a_header_that_does_not_add_up_is_no_measure():
    real = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    assert parameter_count(forged(real, b"\0" * 16)) == 4
    shrunk = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 16]}}  # fewer numbers than bytes
    assert parameter_count(forged(shrunk, b"\0" * 16)) is None
    assert parameter_count(forged(real, b"\0" * 20)) is None  # bytes no tensor accounts for
    assert (
        parameter_count(forged({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"")) is None
    )
    assert parameter_count(b"\xff" * 8 + b"{}") is None and parameter_count(None) is None
    assert parameter_count(struct.pack("<Q", 2) + b"[]") is None
