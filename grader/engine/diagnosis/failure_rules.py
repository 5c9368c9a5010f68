"""When the student's code stopped with an error the sandbox itself explains: a package it lacks, the
network it does not have, an API this torch version no longer has.

These read the failure the harness reported (its exception's type and message, said before any
hidden input entered the sandbox) and say what to do instead, with what the sandbox does have.
"""

from __future__ import annotations

import difflib
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
# What a failed download says (urllib, requests, socket), never a student's own words for it.
NETWORK_WORDS = (
    "Name or service not known", "Temporary failure in name resolution", "nodename nor servname",
    "Network is unreachable", "No address associated with hostname", "urlopen error",
    "Failed to establish a new connection", "Failed to resolve",
)  # fmt: skip
MISSING = re.compile(r"No module named '([A-Za-z0-9_.]+)'")
# Known removals: (what the error says, what changed, what to write instead).
REMOVED = (
    (
        re.compile(
            r"(LR|Scheduler|Plateau|Annealing|Cyclic|OneCycle)\w*\.__init__\(\) got an unexpected keyword "
            r"argument 'verbose'"
        ),
        "the learning-rate schedulers' verbose argument was deprecated in torch 2.2 and removed in 2.7",
        "drop verbose=True; print scheduler.get_last_lr() yourself when you want to see the rate",
    ),
    (
        re.compile(r"Weights only load failed"),
        "since torch 2.6, torch's load() reads only tensors unless told otherwise (weights_only=True)",
        "save the model's state_dict (torch.save(model.state_dict(), path)) and read it back into a model "
        "with model.load_state_dict(...), or pass weights_only=False for a file your own script wrote",
    ),
    (
        re.compile(r"No module named 'torch\._six'"),
        "torch._six was removed in torch 2.0",
        "use Python's own names instead (str for string_classes, math.inf or torch.inf for inf)",
    ),
    (
        re.compile(r"deprecated since version [\d.]+ and is now removed"),
        "this function was deprecated and has since been removed (torch's message says what replaces it)",
        "use the replacement torch's message names (mostly in torch.linalg)",
    ),
)
TORCH_ATTRIBUTE = re.compile(r"module '(torch[A-Za-z0-9_.]*)' has no attribute '([A-Za-z0-9_]+)'")
# Names beginners spell from memory: a wrong case or a letter off is a typo, not a removed API.
KNOWN_NAMES = (
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "GELU", "SiLU", "ELU", "Softplus", "Linear",
    "Sequential", "Module", "ModuleList", "Dropout", "BatchNorm1d", "LayerNorm", "Flatten", "Identity", "Conv1d",
    "Conv2d", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "Parameter", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "mse_loss",
    "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "leaky_relu", "Adam", "AdamW",
    "SGD", "RMSprop", "Adagrad", "LBFGS", "no_grad", "tensor", "Tensor", "from_numpy", "manual_seed", "linspace",
    "arange", "randn", "rand", "zeros", "ones", "cat", "stack", "unsqueeze", "squeeze", "sqrt", "exp", "log",
)  # fmt: skip


def _where(e: Evidence) -> str:
    file, line = text(e.failure, "file"), number(e.failure, "line")
    return f"{file}:{int(line)}" if file and line is not None else ""


def _first_line(e: Evidence) -> str:
    lines = text(e.failure, "message").splitlines()
    return lines[0][:200] if lines else ""


def _meant(module: str, name: str) -> list[str]:
    """The known name a misspelt one most likely stands for: the same letters in another case first
    (torch.nn's classes are capitalised, torch's and torch.nn.functional's functions are not)."""
    same = [k for k in KNOWN_NAMES if k.lower() == name.lower()]
    capitalised = module == "torch.nn" or module.startswith("torch.optim")
    same.sort(key=lambda k: k[0].isupper() != capitalised)
    return same or difflib.get_close_matches(name, KNOWN_NAMES, n=1, cutoff=0.75)


@rule
def missing_package(e: Evidence) -> Diagnosis | None:
    found = MISSING.search(text(e.failure, "message"))
    if found is None:
        return None
    name = found.group(1)
    top = name.split(".")[0]
    if top == "torch":
        return None  # a torch module that no longer exists: removed_api says which and what instead
    if top in SANDBOX_PACKAGES:
        return Diagnosis(
            "missing_package", "error", f"{top} is there, but not its module {name!r}",
            f"Your code imports {name!r}; the sandbox has {top}, in a version without that module.",
            "Modules move or go between versions: your code, or the tutorial it follows, was written for "
            "another one.",
            f"Look up where what you import from {name} lives in the current {top} (sklearn.externals.joblib, "
            "for example, is now plain joblib), or do without it.",
            _where(e), {"package": name},
        )  # fmt: skip
    instead = INSTEAD.get(top)
    fix = (
        f"Remove the import and what uses it; {instead}"
        if instead
        else f"If {top!r} is a file of yours ({top}.py), upload it with your script, both in one zip. If it is "
        "a package, do without it: most of what one does for a small network takes a few lines of torch or numpy."
    )
    return Diagnosis(
        "missing_package", "error", f"The sandbox has no package {top!r}",
        f"Your code imports {name!r}, which is not where the grader runs it.",
        "Nothing can be installed there (no network, no pip). It has Python's standard library and: "
        f"{', '.join(SANDBOX_PACKAGES)}.",
        fix, _where(e), {"package": top},
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


@rule
def removed_api(e: Evidence) -> Diagnosis | None:
    message = text(e.failure, "message")
    if not message:
        return None
    version = e.torch_version.split("+")[0] or "this version"
    known = next(((changed, instead) for words, changed, instead in REMOVED if words.search(message)), None)
    if known is not None:
        seen = f"Your code stopped with: {_first_line(e)}"
        changed, instead = known
    else:
        attribute = TORCH_ATTRIBUTE.search(message)
        if attribute is None:
            return None
        module, name = attribute.groups()
        close = _meant(module, name)
        if close and close[0] != name:
            return Diagnosis(
                "misspelled_name", "error", f"{module}.{name} does not exist: {module}.{close[0]}?",
                f"Your code uses {module}.{name}; torch has {module}.{close[0]}.",
                "Python names are case-sensitive and must be spelled exactly.",
                f"Write {module}.{close[0]}.",
                _where(e), {"name": name, "meant": close[0]},
            )  # fmt: skip
        seen = f"Your code uses {module}.{name}, which torch {version} does not have."
        changed = f"{module}.{name} does not exist in torch {version}: removed, renamed or misspelled"
        instead = "check the spelling, then look the name up in the PyTorch documentation for this version"
    return Diagnosis(
        "removed_api", "error", f"Your code uses an API that torch {version} does not have",
        seen,
        f"The sandbox runs torch {version}, and {changed}.",
        instead[0].upper() + instead[1:] + ".",
        _where(e), {"torch": version},
    )  # fmt: skip
