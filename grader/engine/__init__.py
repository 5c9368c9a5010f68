"""The grading engine: what it takes to train a submission in a sandbox and score it, with nothing of
the service (no Flask, SQLAlchemy or Celery; tests/test_layering.py holds it to that), so that
`grader run` and `grader assignments check` need nothing else and it could be published alone.

- the assignment as its folder declares it: ``spec`` (parsing; ``rules``, ``fields``, ``variables``,
  ``expression``, ``gpu_kinds``), its data (``sampling``, ``datasets``, ``grid``), its sweeps
  (``sweep_rules``, ``sweep_settings``, ``sweep_request``), ``starter``, and the nine built-in
  assignments (``builtin/``, package data);
- ``runner``: one grading, from an upload to a report (``runner/grade.py``), and ``runner/check.py``:
  every declared solution of an assignment graded as its spec says it should be;
- ``sandbox``: the throwaway sandboxes (bubblewrap, Docker) and their limits;
- ``harness``: the code that runs inside a sandbox, stdlib, numpy and torch only;
- ``diagnosis``: the training mistakes a run's evidence shows;
- ``scoring``, ``verdicts``, ``conventions``, ``training``: the metric and points, the outcomes, what a
  run must print, what the harness reported of training (read by the runner and the diagnoses).

It imports no module of grader outside grader/engine, and its packages import each other one way
(diagnosis and runner build on the top modules; the runner on diagnosis and sandbox); the service
imports it. tests/test_layering.py checks both.
"""
