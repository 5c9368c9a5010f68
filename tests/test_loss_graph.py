"""What the harness reads off a loss's autograd graph at backward(): in-process, no sandbox needed.

Nothing of torch is replaced to see it, so whatever way the loss was written (a module, a function
with positional or keyword arguments, compiled with torch.jit) reads the same.
"""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.engine.harness import losses
from grader.engine.harness.instrument import Recorder

torch.manual_seed(0)
SCORES = torch.randn(16, 3, requires_grad=True)
CLASSES = torch.randint(0, 3, (16,))
VALUES = torch.randn(16, 1, requires_grad=True)
TARGETS = torch.rand(16, 1)


@pytest.mark.parametrize(
    "make, cls, reduction",
    [
        (lambda: nn.MSELoss()(VALUES, TARGETS), "MSELoss", "mean"),
        (lambda: F.mse_loss(input=VALUES, target=TARGETS, reduction="sum"), "MSELoss", "sum"),
        (lambda: F.mse_loss(VALUES, TARGETS, reduction="none").mean(), "MSELoss", "none"),
        (lambda: 0.5 * F.huber_loss(VALUES, TARGETS), "HuberLoss", "mean"),
        (lambda: F.cross_entropy(SCORES, CLASSES), "CrossEntropyLoss", "mean"),
        (lambda: nn.NLLLoss()(F.log_softmax(SCORES, 1), CLASSES), "CrossEntropyLoss", "mean"),
        (lambda: F.binary_cross_entropy(torch.sigmoid(VALUES), TARGETS), "BCELoss", "mean"),
        (lambda: nn.BCEWithLogitsLoss()(VALUES, TARGETS), "BCEWithLogitsLoss", "mean"),
        (lambda: torch.jit.script(nn.MSELoss())(VALUES, TARGETS), "MSELoss", "mean"),
    ],
)
def test_every_way_of_writing_a_loss_reads_the_same(make, cls, reduction):
    record = losses.read(make())
    assert record is not None and record["cls"] == cls and record["reduction"] == reduction


def test_what_shaped_the_scores_before_the_loss():
    softmaxed = losses.read(F.cross_entropy(torch.softmax(SCORES, 1), CLASSES))
    assert softmaxed is not None and softmaxed["squashed_by"] == "softmax" and softmaxed["rows_sum_to_one"]
    squashed = losses.read(nn.CrossEntropyLoss()(torch.sigmoid(SCORES), CLASSES))
    assert squashed is not None and squashed["squashed_by"] == "sigmoid"
    assert 0.0 <= squashed["prediction_min"] <= squashed["prediction_max"] <= 1.0
    plain = losses.read(F.cross_entropy(SCORES, CLASSES))
    assert plain is not None and plain["squashed_by"] == "" and "prediction_min" not in plain


def test_a_broadcast_keeps_the_predictions_own_shape():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = losses.read(F.mse_loss(VALUES, TARGETS[:, 0]))
    assert record is not None and record["prediction_shape"] == [16, 1] and record["broadcast_to"] == [16, 16]


def test_hand_written_and_unknown_losses_make_no_claim():
    assert losses.read(((VALUES - TARGETS) ** 2).mean()) is None
    assert losses.read(F.cross_entropy(SCORES, CLASSES, label_smoothing=0.1)) is None


def test_torch_is_left_as_it_was_while_the_recorder_looks():
    # Mid-way through a sampled step: a reference to torch's own function still pickles, a scripted
    # function using it still compiles, and the loss is still read (the harness replaces nothing).
    original = F.mse_loss
    recorder = Recorder(lambda *args, **kwargs: None, None, None)
    recorder.install()
    try:
        model = nn.Linear(1, 1)
        out = model(torch.rand(8, 1))  # the sampled step's forward pass: the probes are looking
        assert recorder.probes.looking and F.mse_loss is original
        assert pickle.loads(pickle.dumps(F.mse_loss)) is original

        @torch.jit.script
        def rmse(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return torch.sqrt(F.mse_loss(p, t))

        assert float(rmse(torch.ones(3), torch.zeros(3))) == 1.0
        F.mse_loss(out, torch.rand(8, 1)).backward()
    finally:
        recorder.uninstall()
    assert recorder.probes.losses["MSELoss"]["prediction_shape"] == [8, 1]
