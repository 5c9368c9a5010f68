"""Mistakes that only a sweep's run can make: settings the student's code never picked up."""

from __future__ import annotations

from .base import Diagnosis, rule
from .evidence import Evidence, text

# An example of reading each kind of setting, for the fix.
READS = {
    "lr": 'lr = p.get("lr", 0.01)',
    "hidden": 'hidden = p.get("hidden", 32)',
    "optimizer": 'optimizer = p.get("optimizer", "adam")',
}


@rule
def sweep_settings_ignored(e: Evidence) -> Diagnosis | None:
    data = e.probes.get("sweep_settings", {})
    unread = data.get("unread")
    if not isinstance(unread, list):
        return None
    names = [name[:40] for name in unread if isinstance(name, str)][:12]
    if not names:
        return None
    listed = ", ".join(names)
    where = "your script" if text(data, "mode") == "script" else "your train()"
    examples = "; ".join(READS.get(name, f'{name} = p.get("{name}", ...)') for name in names[:3])
    return Diagnosis(
        "sweep_settings_ignored", "error", "The sweep's settings never reached your code",
        f"This run is a sweep point that sets {listed}, but {where} never called gradekit.params(), "
        "so it trained with its own values.",
        "A sweep compares settings only if each run uses its own: here every point trained the same "
        "way, and the differences between them are seed noise. The grader puts build_model()'s "
        "arguments and a TRAINING dict's settings in place itself; a script or your own train() has "
        "to ask for them.",
        f"Read them at the start: p = gradekit.params(), then {examples}. params() gives {{}} outside "
        "a sweep, so your defaults still apply then.",
        numbers={"unread": names},
    )  # fmt: skip
