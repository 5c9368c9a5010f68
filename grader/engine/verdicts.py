"""Verdicts, each with words a student understands."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    SCORED = "scored"
    SYNTAX_ERROR = "syntax_error"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    PROCESS_LIMIT = "process_limit"
    OUTPUT_LIMIT = "output_limit"
    DISK_LIMIT = "disk_limit"
    NO_MODEL = "no_model"
    BAD_SUBMISSION = "bad_submission"
    BAD_PREDICTIONS = "bad_predictions"
    EVALUATION_TIMEOUT = "evaluation_timeout"
    OVER_BUDGET = "over_budget"
    INTERNAL_ERROR = "internal_error"
    # The harness's own code failed while the student's ran: the platform's, so never charged, but not
    # retried (it would fail the same way), and capped per student (policy.py): student code can bring
    # it about by breaking what the harness uses, and an uncharged run must not be free compute.
    HARNESS_ERROR = "harness_error"

    @property
    def charged(self) -> bool:
        """Whether this outcome counts against the student's submission quota."""
        return self not in (Verdict.INTERNAL_ERROR, Verdict.HARNESS_ERROR)

    @property
    def platform_failure(self) -> bool:
        return not self.charged

    @property
    def headline(self) -> str:
        return TITLES[self]


TITLES = {
    Verdict.SCORED: "Scored",
    Verdict.SYNTAX_ERROR: "Syntax error",
    Verdict.RUNTIME_ERROR: "Runtime error",
    Verdict.TIME_LIMIT: "Time limit exceeded",
    Verdict.MEMORY_LIMIT: "Memory limit exceeded",
    Verdict.PROCESS_LIMIT: "Process limit exceeded",
    Verdict.OUTPUT_LIMIT: "Output limit exceeded",
    Verdict.DISK_LIMIT: "Disk limit exceeded",
    Verdict.NO_MODEL: "No model found",
    Verdict.BAD_SUBMISSION: "Submission does not follow the contract",
    Verdict.BAD_PREDICTIONS: "Bad predictions",
    Verdict.EVALUATION_TIMEOUT: "Evaluation timed out",
    Verdict.OVER_BUDGET: "Model over the parameter budget",
    Verdict.INTERNAL_ERROR: "Internal error (not your fault)",
    Verdict.HARNESS_ERROR: "Internal error (not your fault)",
}


def limit_message(verdict: Verdict, limit: str) -> str:
    """The message for a run stopped at a limit; ``limit`` says which and how much."""
    texts = {
        Verdict.TIME_LIMIT: f"Your code ran longer than the {limit} allowed and was stopped. "
        "Train for fewer steps, use mini-batches, or stop when the loss stops improving.",
        Verdict.MEMORY_LIMIT: f"Your code used more than the {limit} of memory allowed and was stopped. "
        "Look for tensors that grow every step (e.g. keeping `loss` instead of `loss.item()` in a list) "
        "or data sets larger than needed.",
        Verdict.PROCESS_LIMIT: f"Your code started more than {limit} processes or threads and was stopped. "
        "Do not start processes in a loop; DataLoader(num_workers=0) is enough here.",
        Verdict.OUTPUT_LIMIT: f"Your code printed more than {limit} and was stopped. Print every few "
        "hundred steps rather than every step.",
        Verdict.DISK_LIMIT: f"Your code wrote more than {limit} to disk. Save only what you need.",
        Verdict.EVALUATION_TIMEOUT: f"Your trained model took longer than {limit} to predict on the "
        "evaluation inputs. Its forward pass must return without waiting on anything.",
    }
    return texts[verdict]
