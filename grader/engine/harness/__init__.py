"""The in-sandbox harness.

Everything in this package runs *inside* the sandbox, next to untrusted student
code. It may import only the standard library, numpy, torch and ``gradekit``:
never Flask, the database, Celery or any other part of ``grader`` (the rest of
the package is not even mounted in the sandbox). ``protocol`` is the one module
the host imports from here, and it is pure standard library.
"""
