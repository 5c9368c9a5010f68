"""Records what training did, with no change to the student's code.

Hooks: ``Tensor.backward`` (the loss of every backward on a scalar), the global
optimizer step hooks (steps, learning rate, time per step, sampled gradient
norms), ``zero_grad`` and the optimizers' construction (how many were made, and
where: ``effect``). Values stay on the device as detached tensors and are
moved in one batch about once a second, so recording adds no device sync per
step (no ``.item()`` in the hot path). Counting steps and enforcing the budgets
is the harness's duty; everything else only records, and a recording that fails
costs a curve or a diagnosis, never the student's run.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from . import calls, final, untrained
from .early_stop import EarlyStopper
from .effect import TrainingEffect
from .probes import Probes

Send = Callable[..., None]

FLUSH_SECONDS = 1.0
FLUSH_POINTS = 1024
GRAD_NORM_EVERY = 25
MAX_WARNINGS = 50
SHARED_STORAGE_BYTES = 4096


class StopTraining(calls.HarnessStop):
    """Raised inside the student's loop when a budget runs out (their ``except Exception`` lets it by)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _restorer(owner: Any, name: str, original: Any) -> Callable[[], None]:
    return lambda: setattr(owner, name, original)


class _Recording:
    """``Recorder.recording()``: swallows (and counts) an Exception, lets a BaseException through."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> bool:
        if kind is not None and issubclass(kind, Exception):
            self.recorder.observation_failures += 1
            return True
        return False


class Recorder:
    def __init__(
        self,
        send: Send,
        max_steps: int | None,
        train_seconds: float | None,
        workdir: str | None = None,
        probes: bool = True,
        heldout: torch.Tensor | None = None,
        stopper: EarlyStopper | None = None,
        max_parameters: int | None = None,
        call_seconds: float | None = calls.CALL_SECONDS,
    ) -> None:
        self.send = send
        self.stopper = stopper
        self.workdir = workdir
        self.max_parameters = max_parameters
        self.call_seconds = call_seconds
        self.effect = TrainingEffect(lambda: self._student_line())
        self.first_weights = untrained.FirstWeights()
        self._recording = _Recording(self)
        self.probes = Probes(
            send, enabled=probes, heldout=heldout, on_root=self.first_run, call_seconds=call_seconds
        )
        self.missing_zero_grad_at: dict[str, Any] | None = None
        self.max_steps = max_steps
        self.train_seconds = train_seconds
        self.t0 = time.perf_counter()
        self.steps = 0
        self.backward = 0
        self.zero_grad = 0
        self.steps_without_zero_grad = 0
        # Gradients as the last optimizer step left them: (parameter, id of its .grad, its version).
        # The first backward after the step finds them untouched only if nothing zeroed them.
        self._left_by_step: list[tuple[torch.Tensor, int, int]] = []
        self._losses: list[torch.Tensor] = []
        self._loss_steps: list[int] = []
        self._step_times: list[float] = []
        self._step_x: list[int] = []
        self._last_step_at: float | None = None
        self._last_flush = self.t0
        self._last_loss: float | None = None
        self._lr: float | None = None
        self._lr_x: list[int] = []
        self._lr_y: list[float] = []
        self._grad_samples: list[tuple[int, list[torch.nn.Parameter], torch.Tensor]] = []
        self._warnings: dict[tuple[str, str, str, int], int] = {}
        self._last_optimizer: torch.optim.Optimizer | None = None
        self.observation_failures = 0  # recordings that failed (sent with the counters' probe)
        self._undo: list[Callable[[], None]] = []

    # -- installation ---------------------------------------------------------
    def install(self) -> None:
        self.probes.arm()  # the first forward pass shows the set-up
        self._undo.append(self.probes.disarm)
        original_backward: Any = torch.Tensor.backward
        recorder = self

        def backward(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            with recorder.recording():
                recorder._before_backward(tensor)
            return original_backward(tensor, *args, **kwargs)

        torch.Tensor.backward = backward  # type: ignore[method-assign,assignment]
        self._undo.append(lambda: setattr(torch.Tensor, "backward", original_backward))

        for owner in (torch.optim.Optimizer, torch.nn.Module):
            original_zero = owner.zero_grad

            def zero_grad(obj: Any, *args: Any, _orig: Any = original_zero, **kwargs: Any) -> Any:
                recorder.zero_grad += 1
                return _orig(obj, *args, **kwargs)

            owner.zero_grad = zero_grad  # type: ignore[method-assign,assignment]
            self._undo.append(_restorer(owner, "zero_grad", original_zero))

        original_init: Any = torch.optim.Optimizer.__init__

        def init(optimizer: Any, *args: Any, **kwargs: Any) -> None:
            original_init(optimizer, *args, **kwargs)
            recorder._optimizer_made(optimizer)

        torch.optim.Optimizer.__init__ = init  # type: ignore[method-assign,assignment]
        self._undo.append(_restorer(torch.optim.Optimizer, "__init__", original_init))

        def after_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            try:
                recorder._after_step(optimizer)
            except (calls.HarnessStop, calls.HarnessFault):
                raise
            except Exception as exc:
                raise calls.HarnessFault("Recorder.after_step", exc) from exc

        handle = register_optimizer_step_post_hook(after_step)
        self._undo.append(handle.remove)

        original_showwarning = warnings.showwarning

        def showwarning(message: Any, category: type, filename: str, lineno: int, *a: Any, **k: Any) -> None:
            with recorder.recording():
                recorder._warn(str(message), category.__name__, filename, lineno)
            original_showwarning(message, category, filename, lineno, *a, **k)

        warnings.showwarning = showwarning
        self._undo.append(lambda: setattr(warnings, "showwarning", original_showwarning))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    # -- hooks ----------------------------------------------------------------
    def _before_backward(self, tensor: torch.Tensor) -> None:
        if tensor.numel() == 1:
            loss = tensor.detach()
            # A reduced loss can share the storage of a large intermediate (an [N, N]
            # broadcast buffer) that holding it would keep alive: copy only those.
            if loss.untyped_storage().nbytes() > SHARED_STORAGE_BYTES:
                loss = loss.clone()
            self._losses.append(loss)
            self._loss_steps.append(self.steps)
        self.backward += 1
        if self.backward == 1:
            self.effect.backward()
        self._check_zeroed()
        self.probes.seen_backward(tensor)

    def recording(self) -> _Recording:
        """What only records: a failure there costs a curve or a diagnosis, never the student's run.

        The harness's own stops (budgets, a model call that hangs) are BaseExceptions and pass. A
        plain object, not a generator: it is entered twice in every training step.
        """
        return self._recording

    def _optimizer_made(self, optimizer: torch.optim.Optimizer) -> None:
        with self.recording():
            self.effect.created(optimizer)

    def first_run(self, model: torch.nn.Module) -> None:
        """A model ran for the first time: remember its weights (to tell later whether training moved them)."""
        with self.recording():
            self.effect.remember(model)
            self.first_weights.remember(model)

    def built(self, model: torch.nn.Module) -> None:
        """Module mode: build_model()'s model is the graded one; over the budget, it stops before training."""
        self.first_run(model)
        self.check_budget(model)

    def check_budget(self, model: torch.nn.Module) -> None:
        if self.max_parameters is None:
            return
        try:
            count = calls.count(model)
        except Exception:  # noqa: BLE001 - uncountable here: the host checks the graded model's size
            return
        if count > self.max_parameters:
            main = getattr(sys.modules.get("__main__"), "__dict__", {})
            name = next((k for k, v in list(main.items()) if v is model and not k.startswith("_")), "")
            raise calls.OverBudget(count, self.max_parameters, name or type(model).__name__)

    def _optimizer_trains_the_model(self, optimizer: torch.optim.Optimizer) -> None:
        """A script's model is known to be the one that trains once an optimizer steps its parameters: a
        model over the budget stops then (a scratch model that only ran a forward pass is not judged)."""
        root = self.probes.root
        if root is None or self.max_parameters is None:
            return
        mine = {id(p) for p in calls.parameters(root)}
        if any(id(p) in mine for group in optimizer.param_groups for p in group["params"]):
            self.check_budget(root)

    def _after_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Count the step and enforce the budgets (the harness's duty: a failure here is the platform's);
        what is only recorded may fail without touching the student's run."""
        self.steps += 1
        now = time.perf_counter()
        plateau = False
        with self.recording():
            plateau = self._observe_step(optimizer, now)
        if self.max_steps is not None and self.steps >= self.max_steps:
            raise StopTraining("step_budget")
        if self.train_seconds is not None and now - self.t0 >= self.train_seconds:
            raise StopTraining("time_budget")
        if plateau:
            raise StopTraining("plateau")

    def _observe_step(self, optimizer: torch.optim.Optimizer, now: float) -> bool:
        """What a step shows (times, gradients, learning rate, the probes); True when early stopping says stop."""
        if self._last_step_at is not None:
            self._step_times.append(now - self._last_step_at)
            self._step_x.append(self.steps)
        self._last_step_at = now
        found = self._remember_gradients(optimizer)
        if optimizer is not self._last_optimizer or not found:  # the common case costs one comparison
            self._last_optimizer = optimizer
            if self.effect.stepped(optimizer, found):
                self._optimizer_trains_the_model(optimizer)
        # Before the probes arm for a sampled step: the look's forward pass must not be the one sampled.
        plateau = self._look()
        self.probes.after_step(self.steps)
        lr = optimizer.param_groups[0].get("lr")
        if isinstance(lr, torch.Tensor):
            lr = float(lr)
        if lr != self._lr and isinstance(lr, (int, float)):
            self._lr = float(lr)  # batched like the losses: a scheduler may change it every step
            self._lr_x.append(self.steps)
            self._lr_y.append(self._lr)
        if self.steps % GRAD_NORM_EVERY == 1:
            self._sample_grad_norms(optimizer)
        if (
            now - self._last_flush >= FLUSH_SECONDS
            or len(self._losses) >= FLUSH_POINTS
            or len(self._step_times) >= FLUSH_POINTS
            or len(self._lr_x) >= FLUSH_POINTS
        ):
            self.flush(progress=True)
        return plateau

    def _look(self) -> bool:
        """Early stopping's look at the held-out loss on its steps; True when it has plateaued."""
        if self.stopper is None or not self.stopper.due(self.steps):
            return False
        with self.probes.paused():
            plateau = self.stopper.after_step(self.steps)
        self._last_step_at = time.perf_counter()  # the look is not part of the student's next step
        return plateau

    def _remember_gradients(self, optimizer: torch.optim.Optimizer) -> bool:
        """One of this optimizer's gradients as the step leaves it (zero_grad clears all of them at
        once, so one tells; several optimizers each leave their own). False: the step found none."""
        for group in optimizer.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is not None:
                    self._left_by_step.append((param, id(grad), grad._version))
                    return True
        return False

    def _check_zeroed(self) -> None:
        """At the first backward after a step: were the step's gradients zeroed (by any means) since?"""
        if not self._left_by_step:
            return
        untouched = all(
            p.grad is not None and id(p.grad) == grad_id and p.grad._version == version
            for p, grad_id, version in self._left_by_step
        )
        if untouched:
            # Zeroed through .data (p.grad.data.zero_()) leaves the version as it was: look at the values,
            # only on this suspicious path (it costs a device sync).
            untouched = any(bool(p.grad.any()) for p, _, _ in self._left_by_step if p.grad is not None)
        self._left_by_step = []
        if untouched:
            self.steps_without_zero_grad += 1
            if self.missing_zero_grad_at is None:
                self.missing_zero_grad_at = self._student_line()

    def _student_line(self) -> dict[str, Any]:
        """Where the student's code called ``backward()`` (the innermost frame in the work dir)."""
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_code.co_filename
            if self.workdir and name.startswith(self.workdir + "/"):
                return {"file": name, "line": frame.f_lineno, "step": self.steps}
            frame = frame.f_back  # type: ignore[assignment]
        return {"step": self.steps}

    def _sample_grad_norms(self, optimizer: torch.optim.Optimizer) -> None:
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if params:
            norms = torch.stack([p.grad.detach().float().norm() for p in params if p.grad is not None])
            self._grad_samples.append((self.steps, params, norms))

    def _warn(self, message: str, category: str, filename: str, lineno: int) -> None:
        if "/harness/" in filename or "/gradekit/" in filename:
            # Raised by the grader's code on the student's behalf: said at the student's line.
            at = self._student_line()
            filename, lineno = str(at.get("file", "")), int(at.get("line", 0))
        key = (category, message[:2000], filename, lineno)
        if key in self._warnings:
            self._warnings[key] += 1
        elif len(self._warnings) < MAX_WARNINGS:
            self._warnings[key] = 1

    # -- output ---------------------------------------------------------------
    def flush(self, progress: bool = False) -> None:
        # The buffers are emptied and the clock reset before anything can fail: a flush broken by the
        # student's code (torch.stack replaced) loses one second of points, and is not retried on every
        # following step over an ever longer buffer.
        now = time.perf_counter()
        self._last_flush = now
        losses, loss_steps = self._losses, self._loss_steps
        step_times, step_x = self._step_times, self._step_x
        lr_x, lr_y = self._lr_x, self._lr_y
        self._losses, self._loss_steps = [], []
        self._step_times, self._step_x = [], []
        self._lr_x, self._lr_y = [], []
        if losses:
            values = torch.stack([t.float().reshape(()) for t in losses]).cpu().tolist()
            self._last_loss = values[-1]
            self._send_points("loss", loss_steps, values)
        if step_times:
            self._send_points("step_time", step_x, step_times)
        if lr_x:
            self._send_points("lr", lr_x, lr_y)
        if progress:
            self.send("progress", step=self.steps, elapsed=round(now - self.t0, 3), loss=self._last_loss)

    def _send_points(self, series: str, xs: list[int], ys: list[float]) -> None:
        for i in range(0, len(xs), FLUSH_POINTS):
            self.send("points", series=series, x=xs[i : i + FLUSH_POINTS], y=ys[i : i + FLUSH_POINTS])

    def finish(
        self,
        model: torch.nn.Module | None,
        probe_inputs: torch.Tensor | None = None,
        transforms: calls.Transforms = calls.NONE,
    ) -> None:
        """Send everything still buffered, then check the final model (each call of it within budget).

        Gradient norms are named by the final model's layers.
        """
        with self.recording():
            self.flush(progress=True)
        if model is not None and self.probes.enabled:
            self.check_final(model, probe_inputs, transforms)
        if self.missing_zero_grad_at is not None:
            self.send("probe", name="missing_zero_grad", data=self.missing_zero_grad_at)
        names: dict[int, str] = {}
        if model is not None:
            for name, param in calls.named_parameters(model):
                names[id(param)] = name.rsplit(".", 1)[0] if "." in name else name
        series: dict[str, tuple[list[int], list[float]]] = {}
        for step, params, norms in self._grad_samples:
            squares: dict[str, float] = {}
            for param, norm in zip(params, norms.cpu().tolist(), strict=True):
                layer = names.get(id(param), "other")
                squares[layer] = squares.get(layer, 0.0) + norm * norm
            for layer, total in squares.items():
                xs, ys = series.setdefault(layer, ([], []))
                xs.append(step)
                ys.append(total**0.5)
        for layer, (xs, ys) in list(series.items())[:150]:
            self._send_points(f"grad_norm/{layer}", xs, ys)
        for (category, message, filename, lineno), count in self._warnings.items():
            self.send("warning", category=category, message=message, file=filename, line=lineno, count=count)
        self.send(
            "counters",
            backward=self.backward,
            steps=self.steps,
            zero_grad=self.zero_grad,
            steps_without_zero_grad=self.steps_without_zero_grad,
        )
        if self.observation_failures:
            self.send("probe", name="harness", data={"observation_failures": self.observation_failures})

    def check_final(
        self, model: torch.nn.Module, inputs: torch.Tensor | None, transforms: calls.Transforms
    ) -> None:
        fields = self.probes.report(model)
        if inputs is not None:
            out, seen = final.observe(model, inputs, transforms, self.call_seconds, self.workdir)
            self.probes.send_heldout(out, self.steps, final=True)  # the curve's last point, as graded
            for name in ("first_layer_eval", "model_call_error"):
                if name in seen:
                    self.send("probe", name=name, data=seen[name])
            fields |= {key: seen[key] for key in ("ops", "last_op", "last_module", "nonlinear_inside")}
            if out is not None and len(inputs) >= 8:
                fields |= final.affine(
                    model, inputs, transforms, self.call_seconds, str(seen.get("last_op", ""))
                )
            if out is not None:
                with self.recording():  # a question for the staff, never a reason to fail a run
                    step0, noise = untrained.look(
                        model, inputs, transforms, self.call_seconds, self.first_weights, out
                    )
                    if step0 is not None:
                        self.probes.send_heldout(step0, 0)  # the held-out curve's point before training
                    if noise:
                        self.send("probe", name="weights_matter", data=noise)
        self.send("probe", name="final_model", data=fields)
        self.send("probe", name="training", data=self.effect.report(model))
