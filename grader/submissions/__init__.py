"""Submissions as they come in: the rows (uploads, attempts, results, curves, sweeps), the upload
service and its policy (deadlines, quotas), who may see which, regrades, the reference runs; the
worker's side is grader/workers, the grades as the class sees them grader/gradebooks."""
