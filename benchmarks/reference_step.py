"""The paraboloid reference's training step, for the benchmarks that time the harness around it."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn


def reference_training() -> tuple[nn.Module, Callable[[int], float]]:
    """The reference's 2-25-10-1 ReLU network, and ``run(steps)``: seconds per step of its loop
    (Adam, batch 64 of 850 points, sum-reduced MSE, the student's own ``float(loss)`` included)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 25), nn.ReLU(), nn.Linear(25, 10), nn.ReLU(), nn.Linear(10, 1))
    optimizer = torch.optim.Adam(model.parameters())
    criterion = nn.MSELoss(reduction="sum")
    x, y = torch.rand(850, 2), torch.rand(850)

    def run(steps: int) -> float:
        started = time.perf_counter()
        for _ in range(steps):
            ix = torch.randint(0, 850, (64,))
            loss = criterion(model(x[ix]).squeeze(), y[ix])
            optimizer.zero_grad()
            loss.backward()
            float(loss.detach())
            optimizer.step()
        return (time.perf_counter() - started) / steps

    return model, run
