"""A spec may ask for a kind of GPU ([budget] gpu_kind): its queue, and the settings that name one."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.assignments.queueing import grading_queue, is_grading_queue
from grader.config import ConfigError, ServiceConfig
from grader.engine.rules import Budget
from grader.engine.spec import SpecError, load

SPEC = """
slug = "t"
title = "T"
[task]
type = "regression"
output = "value"
[inputs]
x = { distribution = "uniform", low = 1.0, high = 10.0 }
[target]
expression = "2 * x"
[data]
train_size = 20
validation_size = 10
hidden_size = 10
[metric]
name = "mse"
full_marks_at = 0.01
zero_at = 1.0
[budget]
wall_seconds = 60
train_seconds = 30
"""


def _load(tmp_path: Path, budget_lines: str) -> Budget:
    folder = tmp_path / "a"
    folder.mkdir(exist_ok=True)
    (folder / "assignment.toml").write_text(SPEC + budget_lines)
    return load(folder, validate=False).budget


def test_a_gpu_assignment_may_ask_for_a_kind(tmp_path: Path):
    budget = _load(tmp_path, 'device = "gpu"\ngpu_kind = "a100"\n')
    assert (budget.device, budget.gpu_kind) == ("gpu", "a100")
    assert _load(tmp_path, 'device = "gpu"\ngpu_kind = "rtx-4090_24g"\n').gpu_kind == "rtx-4090_24g"
    assert _load(tmp_path, 'device = "gpu"\n').gpu_kind is None
    assert _load(tmp_path, "").gpu_kind is None


@pytest.mark.parametrize("device", ["", 'device = "cpu"\n'])
def test_a_kind_without_a_gpu_is_refused(tmp_path: Path, device: str):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, f'{device}gpu_kind = "a100"\n')
    message = str(info.value)
    assert message.startswith(str(tmp_path / "a" / "assignment.toml"))
    assert "budget.gpu_kind" in message and 'set device = "gpu"' in message


@pytest.mark.parametrize("kind", ["A100", "a100!", "", "-a100", "gpu kind", "a" * 17, "t4\n", "ä100", "_t4"])
def test_a_badly_written_kind_is_refused_with_the_allowed_form(tmp_path: Path, kind: str):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, f'device = "gpu"\ngpu_kind = {kind!r}\n'.replace("'", '"'))
    message = str(info.value)
    assert "budget.gpu_kind" in message and repr(kind) in message
    assert "lower-case letters, digits, '-' and '_'" in message and "at most 16 characters" in message


def test_a_kind_must_be_a_string(tmp_path: Path):
    with pytest.raises(SpecError, match=r"budget\.gpu_kind: expected a string, got 100"):
        _load(tmp_path, 'device = "gpu"\ngpu_kind = 100\n')


def test_the_queue_follows_the_device_and_the_kind():
    assert grading_queue(Budget(device="gpu", gpu_kind="a100"), "cpu") == "gpu-a100"
    assert grading_queue(Budget(device="gpu"), "cpu") == "gpu"
    assert grading_queue(Budget(), "cpu") == "cpu"
    assert grading_queue(Budget(), "gpu-t4") == "gpu-t4"  # the deployment's default queue


@pytest.mark.parametrize("name", ["cpu", "gpu", "gpu-a100", "gpu-t4", "gpu-rtx-4090", "gpu-" + "a" * 16])
def test_grading_queues(name: str):
    assert is_grading_queue(name)


@pytest.mark.parametrize(
    "name", ["tpu", "gpu-", "gpu-A100", "gpu-a100!", "maintenance", "outbound", "gpu-" + "a" * 17, "cpu\n"]
)
def test_not_grading_queues(name: str):
    assert not is_grading_queue(name)


def test_the_grading_queue_setting_accepts_a_gpu_kind(tmp_path: Path):
    for queue in ("cpu", "gpu", "gpu-a100"):
        assert ServiceConfig.from_env(tmp_path, {"GRADER_GRADING_QUEUE": queue}).grading_queue == queue


@pytest.mark.parametrize("queue", ["gpu-A100!", "tpu", "gpu-"])
def test_the_grading_queue_setting_refuses_other_names(tmp_path: Path, queue: str):
    with pytest.raises(ConfigError) as info:
        ServiceConfig.from_env(tmp_path, {"GRADER_GRADING_QUEUE": queue})
    message = str(info.value)
    assert message.startswith(f"GRADER_GRADING_QUEUE={queue!r}: expected cpu, gpu or gpu-<kind>")
    assert "lower-case letters, digits" in message
