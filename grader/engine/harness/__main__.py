"""Entry point inside the sandbox: ``python -m harness``.

Imports torch first (so a warm sandbox pays that cost before any submission
arrives), says hello, waits for its one job, trains, reports, then waits for the
evaluation inputs, predicts and exits. A sandbox serves exactly one job.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import sys
import time
import traceback
from typing import Any

import numpy as np
import torch

import gradekit

from . import calls, protocol
from .channels import connect_channels, redirect_stdio
from .discover import scalers
from .early_stop import early_stopper
from .errors import describe, harness_failure, stopped
from .instrument import Recorder
from .modes import SubmissionError, load_data, run_module, run_script
from .sweep import Point

WORKDIR = "/workspace"
JOBDIR = "/job"


class Channels:
    def __init__(self, metrics: int, control: int, results: int) -> None:
        for fd in (metrics, control, results):
            os.set_inheritable(fd, False)  # the student's subprocesses do not get them
        self.metrics, self.results = metrics, results
        self.control = os.fdopen(control, "rb", buffering=0)
        self._buffer = b""

    def send(self, record_type: str, /, **fields: Any) -> None:
        self._write(self.metrics, protocol.encode_record(record_type, **fields))

    def send_frame(self, kind: str, payload: bytes) -> None:
        self._write(self.results, protocol.frame_header(kind, len(payload)) + payload)

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            pass  # the host has stopped listening; it decides what happens next

    def read_frame(self) -> tuple[dict[str, Any], bytes]:
        while b"\n" not in self._buffer:
            chunk = self.control.read(65536)
            if not chunk:
                raise SystemExit(0)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        header = protocol.parse_frame_header(line, max_payload=1 << 31)
        size = header["bytes"]
        while len(self._buffer) < size:
            chunk = self.control.read(max(65536, size - len(self._buffer)))
            if not chunk:
                raise SystemExit(0)
            self._buffer += chunk
        payload, self._buffer = self._buffer[:size], self._buffer[size:]
        return header, payload


def pick_device(requested: str) -> torch.device:
    if requested != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def public_inputs(data_dir: str, name: str) -> torch.Tensor | None:
    """The first public validation inputs, for the probes and the held-out curve (never hidden ones)."""
    path = os.path.join(data_dir, f"{name}.npy")
    if not os.path.exists(path):
        return None
    try:
        return torch.from_numpy(np.load(path, allow_pickle=False)[:256])
    except Exception:  # noqa: BLE001 - probes are a courtesy; the run goes on without them
        return None


def probe_inputs(data_dir: str, model: torch.nn.Module) -> torch.Tensor | None:
    inputs = public_inputs(data_dir, "x_val")
    if inputs is None:
        return None
    return inputs.to(calls.device_of(model))


def train(job: dict[str, Any], channels: Channels) -> torch.nn.Module | None:
    source = os.path.join(JOBDIR, "submission")
    for folder, _, files in os.walk(source):
        target = os.path.join(WORKDIR, os.path.relpath(folder, source))
        os.makedirs(target, exist_ok=True)
        for name in files:
            shutil.copyfile(os.path.join(folder, name), os.path.join(target, name))
    os.chdir(WORKDIR)
    sys.path.insert(0, WORKDIR)
    device = pick_device(job.get("device", "cpu"))
    torch.set_num_threads(int(job.get("threads", 1)))
    data_dir = os.path.join(JOBDIR, "data")
    params = job.get("params") or {}
    gradekit._configure(data_dir if os.path.isdir(data_dir) else None, str(device), params)
    seed = int(job["seed"])
    seed_everything(seed)
    stopper = early_stopper(job.get("early_stopping"), data_dir, job.get("max_steps"), channels.send)
    recorder = Recorder(
        channels.send, job.get("max_steps"), job.get("train_seconds"), WORKDIR, bool(job.get("probes", True)),
        heldout=public_inputs(data_dir, "x_val"), stopper=stopper, max_parameters=job.get("max_parameters"),
        call_seconds=job.get("call_seconds", calls.CALL_SECONDS),
    )  # fmt: skip
    if stopper is not None:
        stopper.find_model = lambda: recorder.probes.root  # a script's model, once a step has shown it
        stopper.call_seconds = recorder.call_seconds
    point = Point(params, seed, channels.send, stopper)
    outcome: dict[str, Any] = {"reason": "finished"}
    entry = os.path.join(WORKDIR, job["entry"])
    channels.send("start", seed=seed, mode=job["mode"], device=str(device))
    if job.get("instrument", True):  # off only to measure the recording's own cost
        recorder.install()
    model: torch.nn.Module | None = None
    try:
        if job["mode"] == "module":
            data = load_data(data_dir, device)

            def log(step: int, **values: float) -> None:
                for name, value in list(values.items())[:20]:
                    channels.send("points", series=f"log/{name}"[:120], x=[int(step)], y=[float(value)])

            model = run_module(entry, data, log, outcome, point, on_built=recorder.built)
        else:
            point.announce_script()
            model = run_script(entry, outcome)
    except SubmissionError as exc:
        recorder.uninstall()
        channels.send("failed", kind="bad_submission", message=str(exc))
        return None
    except (calls.HarnessStop, calls.HarnessFault) as exc:
        recorder.uninstall()
        channels.send("failed", **(stopped(exc, recorder.steps) or harness_failure(exc)))
        return None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - the student's code failed
        recorder.uninstall()
        recorder.finish(None)
        channels.send("failed", **describe(exc, WORKDIR))
        return None
    recorder.uninstall()
    # From here on the harness calls the student's model itself: each call is bounded (calls.py),
    # and the host holds a deadline of its own over these checks.
    channels.send("phase", name="checks")
    transforms = calls.transforms_of(model)
    try:
        recorder.finish(model, probe_inputs(data_dir, model), transforms)
    except (calls.HarnessStop, calls.HarnessFault) as exc:
        channels.send("failed", **(stopped(exc, recorder.steps) or harness_failure(exc)))
        return None
    except Exception:  # noqa: BLE001 - the recordings and checks only describe: the model is still graded
        pass
    found = scalers(outcome.get("namespace") or {})
    if found:
        channels.send("probe", name="scalers", data={"found": found})
    unread = point.unread(gradekit._params_read)
    if unread:
        channels.send("probe", name="sweep_settings", data={"unread": unread[:20], "mode": job["mode"]})
    params = calls.count(model)
    modules = [f"{n}: {type(m).__name__}" for n, m in calls.named_modules(model) if n][:200]
    channels.send(
        "model", name=type(model).__name__, cls=type(model).__qualname__, params=params, modules=modules
    )
    if stopper is not None:
        channels.send("early_stopping", **stopper.summary())  # before "trained": nothing after it is read
    send_weights(model, channels)
    channels.send_frame("trained", b"")  # after the weights, on their pipe: the host has them all
    channels.send(
        "trained",
        reason=outcome["reason"],
        steps=recorder.steps,
        seconds=round(time.perf_counter() - recorder.t0, 3),
    )
    return model


def send_weights(model: torch.nn.Module, channels: Channels) -> None:
    """The trained weights, on the results channel, before any hidden input reaches the model.

    Always one frame (empty when the weights cannot be saved): the host sends the evaluation inputs
    only after it, so nothing the model does with them can travel out in its weights.
    """
    payload = b""
    try:
        from safetensors.torch import save

        state = {
            k: v.detach().cpu().contiguous().clone()
            for k, v in calls.state_dict(model).items()
            if isinstance(v, torch.Tensor)
        }
        # Which tensors are parameters (not buffers): the host counts the budget from this header.
        names = ",".join(name for name, _ in calls.named_parameters(model) if name in state)
        payload = save(state, metadata={"parameters": names})
    except Exception:  # noqa: BLE001 - weights are a courtesy for instructors and the budget's measure
        pass
    channels.send_frame("weights", payload)


def evaluate(model: torch.nn.Module, channels: Channels, batch: int) -> None:
    header, payload = channels.read_frame()
    if header["t"] != "eval":
        return
    inputs = np.load(io.BytesIO(payload), allow_pickle=False)
    transforms = calls.transforms_of(model)
    calls.set_training(model, False)
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            chunk = torch.from_numpy(inputs[start : start + batch])
            outputs.append(calls.predict(model, chunk, transforms).detach().float().cpu())
    predictions = torch.cat(outputs).numpy() if outputs else np.zeros((0,), np.float32)
    buffer = io.BytesIO()
    np.save(buffer, predictions, allow_pickle=False)
    channels.send_frame("predictions", buffer.getvalue())


def hello() -> dict[str, Any]:
    return {
        "v": protocol.VERSION,
        "torch": torch.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if "GRADER_FORK" in os.environ:  # a fork server: each job in a child of its own (forked.py)
        from .forked import serve

        serve(os.environ.pop("GRADER_FORK"), hello(), lambda fds: serve_job(Channels(*fds)))
    if "GRADER_STDIO" in os.environ:
        redirect_stdio(os.environ.pop("GRADER_STDIO"))
    metrics, control, results = connect_channels(os.environ["GRADER_CHANNELS"])
    channels = Channels(metrics, control, results)
    channels.send("hello", **hello())
    serve_job(channels)


def serve_job(channels: Channels) -> None:
    """The one job of this process: read it, train, report, evaluate, exit."""
    _, payload = channels.read_frame()
    job = json.loads(payload)
    try:
        model = train(job, channels)
    except Exception as exc:  # noqa: BLE001 - the harness's own failure, not the student's
        traceback.print_exc()
        channels.send("failed", **harness_failure(calls.HarnessFault("train", exc)))
        os._exit(protocol.HARNESS_FAILED)
    if model is not None:
        try:
            evaluate(model, channels, int(job.get("eval_batch", 4096)))
        except Exception as exc:  # noqa: BLE001
            # Only the exception's type leaves: its text could echo the evaluation inputs.
            channels.send_frame("eval_error", type(exc).__name__.encode()[:200])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
