"""Who may see and do what, answered the same way for the pages, the REST API and LTI's pages.

- ``kit``: ``require_course``, ``require_assignment``, ``require_submission``, ``require_sweep`` and
  ``require_staff``, built on each domain's rules (``courses/access.py``, ``submissions/access.py``, ...).
  They raise the two refusals of ``grader/denials.py`` (``NotYours``, a 404 that says no more than
  "there is none you can see"; ``StaffOnly``, a 403), which a service may raise too (a regrade by a
  student); the pages render them as their error page, the API as problem+json.
- ``browser``: what every browser page shares: the session's user, ``login_required``, the CSRF check,
  the security headers and the error page.
"""
