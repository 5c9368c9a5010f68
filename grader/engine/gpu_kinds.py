"""What a GPU kind may be called (a spec's [budget] gpu_kind; the workers' GRADER_GPU_KIND): a name
that is also part of a queue's name, "gpu-<kind>". Stdlib only: reading the configuration (the
`grader submit` client too) imports this without the spec parser and numpy. At most 16 characters:
"gpu-" and the kind are stored in submissions.queue, a column of 20 characters."""

from __future__ import annotations

import re

GPU_KIND_MAX = 16
GPU_KIND = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{GPU_KIND_MAX - 1}}}")
GPU_KIND_FORM = (
    f"lower-case letters, digits, '-' and '_', starting with a letter or digit, at most {GPU_KIND_MAX} "
    "characters"
)
