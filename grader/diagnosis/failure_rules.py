"""When the student's code stopped with an error the sandbox itself explains: a package it lacks, the
network it does not have, an API this torch version no longer has.

These read the failure the harness reported (its exception's type and message, said before any
hidden input entered the sandbox) and say what to do instead, with what the sandbox does have.
"""

from __future__ import annotations

import re

from .base import Diagnosis, rule
from .evidence import Evidence, number, text

# What student code may import inside the sandbox besides the standard library (pyproject.toml's
# runtime extras and torch; tests/test_corpus.py imports each of them in a real sandbox).
SANDBOX_PACKAGES = (
    "torch", "numpy", "scipy", "sklearn", "pandas", "matplotlib", "seaborn", "tqdm", "torchinfo", "torchsummary",
)  # fmt: skip
# What to do instead of a package the sandbox does not have, for the ones beginners import most.
INSTEAD = {
    "torchvision": "it is for images; these assignments need none of it (make or load your data as the "
    "assignment says).",
    "torchaudio": "it is for audio; these assignments need none of it.",
    "wandb": "logging to Weights & Biases needs the network; the grader records your loss curve itself.",
    "tensorboard": "the grader records and draws your loss curve itself: remove the SummaryWriter lines.",
    "tensorboardX": "the grader records and draws your loss curve itself: remove the SummaryWriter lines.",
    "tensorflow": "this course's grader trains PyTorch: write the model with torch.nn.",
    "keras": "this course's grader trains PyTorch: write the model with torch.nn.",
    "pytorch_lightning": "write the training loop yourself (zero_grad, backward, step): a few lines.",
    "lightning": "write the training loop yourself (zero_grad, backward, step): a few lines.",
    "google": "Colab's helpers (google.colab) exist only on Colab: remove them.",
    "IPython": "notebook display helpers do nothing here: remove them (print() is kept in the log).",
    "cv2": "OpenCV is for images; these assignments need none of it.",
    "plotly": "plots are not shown here anyway: remove them, or use matplotlib, which is there.",
    "sympy": "compute with numpy or torch instead.",
}
NETWORK_WORDS = (
    "Name or service not known", "Temporary failure in name resolution", "nodename nor servname",
    "Network is unreachable", "No address associated with hostname", "urlopen error",
    "Failed to establish a new connection", "Max retries exceeded", "gaierror", "URLError",
    "ConnectionError", "Connection refused",
)  # fmt: skip
MISSING = re.compile(r"No module named '([A-Za-z0-9_.]+)'")


def _where(e: Evidence) -> str:
    file, line = text(e.failure, "file"), number(e.failure, "line")
    return f"{file}:{int(line)}" if file and line is not None else ""


def _first_line(e: Evidence) -> str:
    lines = text(e.failure, "message").splitlines()
    return lines[0][:200] if lines else ""


@rule
def missing_package(e: Evidence) -> Diagnosis | None:
    found = MISSING.search(text(e.failure, "message"))
    if found is None:
        return None
    name = found.group(1)
    top = name.split(".")[0]
    if top == "torch":
        return None  # a torch module that no longer exists: removed_api says which and what instead
    have = ", ".join(SANDBOX_PACKAGES)
    instead = INSTEAD.get(
        top, "do without it: most of what it does for a small network takes a few lines of torch or numpy."
    )
    return Diagnosis(
        "missing_package", "error", f"The sandbox has no package {top!r}",
        f"Your code imports {name!r}, which is not installed where the grader runs it.",
        f"Nothing can be installed there (no network, no pip). It has Python's standard library and: {have}.",
        f"Remove the import and what uses it; {instead}",
        _where(e), {"package": top},
    )  # fmt: skip


@rule
def no_network(e: Evidence) -> Diagnosis | None:
    message = text(e.failure, "message")
    if not message or not any(words in message for words in NETWORK_WORDS):
        return None
    if e.spec.data.train_file or not e.spec.target.public:
        data = "This assignment hands out its training data: x_train, y_train = load_training_data() (from gradekit)."
    else:
        data = (
            "This assignment's target function is public (see its description): make your training data "
            "from it in the script, or use load_training_data() (from gradekit)."
        )
    return Diagnosis(
        "no_network", "error", "The sandbox has no network",
        f"Your code tried to reach the network: {_first_line(e)}",
        "The grader runs your code with no network at all, so downloads (datasets, files, URLs) fail.",
        data,
        _where(e),
    )  # fmt: skip


# Known removals: (words in the error, what changed, what to write instead).
REMOVED = (
    (
        "unexpected keyword argument 'verbose'",
        "the learning-rate schedulers' verbose argument was deprecated in torch 2.2 and removed in 2.7",
        "drop verbose=True; print scheduler.get_last_lr() yourself when you want to see the rate",
    ),
    (
        "Weights only load failed",
        "since torch 2.6, torch's load() reads only tensors unless told otherwise (weights_only=True)",
        "save the model's state_dict (torch.save(model.state_dict(), path)) and read it back into a model "
        "with model.load_state_dict(...), or pass weights_only=False for a file your own script wrote",
    ),
    (
        "No module named 'torch._six'",
        "torch._six was removed in torch 2.0",
        "use Python's own names instead (str for string_classes, math.inf or torch.inf for inf)",
    ),
    (
        "is now removed",
        "this function was deprecated and has since been removed (torch's message says what replaces it)",
        "use the replacement torch's message names (mostly in torch.linalg)",
    ),
)
TORCH_ATTRIBUTE = re.compile(r"module '(torch[A-Za-z0-9_.]*)' has no attribute '([A-Za-z0-9_]+)'")


@rule
def removed_api(e: Evidence) -> Diagnosis | None:
    message = text(e.failure, "message")
    if not message:
        return None
    version = e.torch_version.split("+")[0] or "this version"
    known = next(((changed, instead) for words, changed, instead in REMOVED if words in message), None)
    if known is not None:
        seen = f"Your code stopped with: {_first_line(e)}"
        changed, instead = known
    else:
        attribute = TORCH_ATTRIBUTE.search(message)
        if attribute is None:
            return None
        module, name = attribute.groups()
        seen = f"Your code uses {module}.{name}, which torch {version} does not have."
        changed = f"{module}.{name} does not exist in torch {version}: it was removed or renamed"
        instead = "look the name up in the PyTorch documentation for this version and use what replaces it"
    return Diagnosis(
        "removed_api", "error", f"Your code uses an API that torch {version} no longer has",
        seen,
        f"The sandbox runs torch {version}, and {changed}.",
        instead[0].upper() + instead[1:] + ".",
        _where(e), {"torch": version},
    )  # fmt: skip
