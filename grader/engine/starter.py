"""A starter script for an assignment: the data, the output convention and submit(), ready to fill in.

The script itself is starter_template.txt (a text file: this package never imports torch).
"""

from __future__ import annotations

from pathlib import Path

from grader.engine.spec import Assignment

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
    text = (Path(__file__).parent / "starter_template.txt").read_text(encoding="utf-8")
    return text.format(
        title=spec.title, inputs=len(spec.inputs), names=names, metric=grading.metric,
        full_marks_at=f"{grading.full_marks_at:g}", train_seconds=f"{budget.train_seconds:g}",
        steps=f", {budget.max_steps:,} optimizer steps" if budget.max_steps else "", slug=spec.slug,
        data=data.format(d=len(spec.inputs), names=names), outputs=outputs, last=last, squeeze=squeeze,
        loss=loss,
    )  # fmt: skip
