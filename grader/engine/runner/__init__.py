"""The grading runner: prepare a submission, train it in a sandbox, score it on the host."""
