"""A starter script for an assignment: the data, the output convention and submit(), ready to fill in."""

from __future__ import annotations

from .spec import Assignment

LOSSES = {
    ("regression", "value"): ("nn.MSELoss()", "1"),
    ("binary", "probability"): ("nn.BCELoss()", "1"),
    ("binary", "logit"): ("nn.BCEWithLogitsLoss()", "1"),
}


def starter_script(spec: Assignment) -> str:
    names = ", ".join(v.name for v in spec.inputs)
    task = spec.task
    loss, outputs = LOSSES.get((task.type, task.output), ("nn.CrossEntropyLoss()", str(task.classes)))
    last = "\n        nn.Sigmoid()," if task.output == "probability" else ""
    squeeze = "" if task.type == "multiclass" else ".squeeze(-1)"
    if spec.data.train_size or spec.data.train_file:
        data = "x_train, y_train = load_training_data()   # raw inputs [N, {d}] ({names}); targets [N]"
    else:
        data = "# No training data is handed out: draw your own from the function in the description.\nx_train, y_train = ..."
    grading = spec.grading
    budget = spec.budget
    return f'''"""{spec.title}: a starter. Fill in the model and the training; keep submit(model) at the end.

The grader calls model(x) on raw inputs of shape [N, {len(spec.inputs)}] (columns {names})
and scores the outputs with {grading.metric} (full marks at {grading.full_marks_at:g}).
Budget: {budget.train_seconds:g} s of training{f", {budget.max_steps:,} optimizer steps" if budget.max_steps else ""}.
Test it locally first:  grader run {spec.slug} this_file.py
"""

import torch
import torch.nn as nn
from gradekit import load_training_data, submit

{data.format(d=len(spec.inputs), names=names)}


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        # Scale the inputs inside the model: the grader feeds them raw.
        self.register_buffer("mean", x_train.mean(0))
        self.register_buffer("std", x_train.std(0).clamp_min(1e-8))
        self.net = nn.Sequential(
            nn.Linear({len(spec.inputs)}, 32),
            nn.ReLU(),
            nn.Linear(32, {outputs}),{last}
        )

    def forward(self, x):
        return self.net((x - self.mean) / self.std){squeeze}


model = Model()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = {loss}

for step in range(2000):
    optimizer.zero_grad()
    loss = criterion(model(x_train), y_train)
    loss.backward()
    optimizer.step()
    if step % 500 == 0:
        print(f"step {{step}}: loss {{loss.item():.4g}}")

submit(model)
'''
