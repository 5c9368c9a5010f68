"""prepare_submission: .py files, notebooks and zips, including hostile archives (host only, no sandbox)."""

from __future__ import annotations

import ast
import io
import json
import stat
import struct
import zipfile

import pytest

from grader.engine.runner.submission import (
    PreparedSubmission,
    SubmissionRejected,
    UploadLimits,
    detect_mode,
    prepare_submission,
)

MODULE_SRC = (
    b"import torch\n\ndef build_model():\n    return torch.nn.Linear(2, 1)\n\nTRAINING = {'epochs': 1}\n"
)
SCRIPT_SRC = b"import torch\nmodel = torch.nn.Linear(2, 1)\n"


def make_zip(
    members: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buf = io.BytesIO()
    items = list(members.items()) if isinstance(members, dict) else members
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buf.getvalue()


def patch_central(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of the (single) central directory header, which zipfile trusts."""
    patched = bytearray(data)
    at = patched.rfind(b"PK\x01\x02")
    struct.pack_into(fmt, patched, at + offset, value)
    return bytes(patched)


def rejected(filename: str, content: bytes, limits: UploadLimits | None = None) -> str:
    with pytest.raises(SubmissionRejected) as info:
        prepare_submission(filename, content, limits or UploadLimits())
    return str(info.value)


def notebook(*cells: str | list[str] | tuple[str, str], nbformat: int = 4) -> bytes:
    out: list[dict[str, object]] = []
    for cell in cells:
        kind, source = cell if isinstance(cell, tuple) else ("code", cell)
        out.append(
            {"cell_type": kind, "metadata": {}, "source": source, "outputs": [], "execution_count": None}
        )
    return json.dumps({"nbformat": nbformat, "nbformat_minor": 5, "metadata": {}, "cells": out}).encode()


def assert_safe(prepared: PreparedSubmission) -> None:
    for path in prepared.files:
        assert not path.startswith("/") and "\\" not in path
        assert ".." not in path.split("/") and "" not in path.split("/")
    assert prepared.entry in prepared.files and prepared.entry.endswith(".py")


# --- single .py files ----------------------------------------------------------------------------


def test_python_script_keeps_name_and_bytes() -> None:
    prepared = prepare_submission("train.py", SCRIPT_SRC)
    assert prepared == PreparedSubmission({"train.py": SCRIPT_SRC}, "train.py", "script", [], "python")


def test_python_module_mode_when_build_model_defined() -> None:
    prepared = prepare_submission("solution.py", MODULE_SRC)
    assert (prepared.mode, prepared.entry, prepared.warnings) == ("module", "solution.py", [])


def test_browser_path_is_reduced_to_basename() -> None:
    assert prepare_submission("C:\\Users\\ana\\Desktop\\train.py", SCRIPT_SRC).entry == "train.py"


def test_invalid_python_name_is_renamed_with_warning() -> None:
    prepared = prepare_submission("my-train (2).py", SCRIPT_SRC)
    assert prepared.entry == "submission.py" and prepared.files == {"submission.py": SCRIPT_SRC}
    assert prepared.warnings == [
        "my-train (2).py was saved as submission.py (a Python file name uses only letters, digits and _, "
        "and does not start with a digit); error messages will refer to submission.py."
    ]


def test_python_name_that_shadows_a_module_is_renamed() -> None:
    prepared = prepare_submission("torch.py", MODULE_SRC)
    assert prepared.entry == "submission.py" and prepared.mode == "module"
    assert '"torch" is the name of a module the grader uses' in prepared.warnings[0]


def test_syntax_error_is_not_rejected() -> None:
    prepared = prepare_submission("solution.py", b"def build_model(:\n    pass\n")
    assert prepared.mode == "script" and prepared.files == {"solution.py": b"def build_model(:\n    pass\n"}


def test_non_utf8_python_is_rejected_with_offset_and_line() -> None:
    message = rejected("train.py", b"x = 1\ny = '\xe9t\xe9'\n")
    assert message.startswith("train.py is not UTF-8 text: the byte 0xe9 at offset 11 (line 2)")
    assert "Save the file with UTF-8 encoding" in message


def test_utf8_bom_is_accepted_and_mode_detected() -> None:
    assert prepare_submission("solution.py", b"\xef\xbb\xbf" + MODULE_SRC).mode == "module"


@pytest.mark.parametrize(
    ("source", "mode"),
    [
        ("def build_model():\n    pass\n", "module"),
        ("from models import build_model\ndef train(model, data, log): pass\n", "module"),
        ("def build_model(): pass\nif __name__ == '__main__':\n    m = build_model()\n", "module"),
        ("class A:\n    def build_model(self): pass\n", "script"),
        ("def helper():\n    def build_model(): pass\n", "script"),
        ("model = build_model()\n", "script"),
        ("# build_model is not defined here\nx = 1\n", "script"),
        ("def build_model(:\n", "script"),
        ("", "script"),
    ],
)
def test_detect_mode(source: str, mode: str) -> None:
    assert detect_mode(source, "solution.py") == (mode, None)


def test_top_level_call_of_build_model_means_script_with_note() -> None:
    source = b"import torch\ndef build_model():\n    return torch.nn.Linear(1, 1)\nmodel = build_model()\n"
    prepared = prepare_submission("solution.py", source)
    assert prepared.mode == "script"
    assert prepared.warnings[0].startswith(
        "solution.py defines build_model() but also calls it at the top level"
    )
    assert 'if __name__ == "__main__":' in prepared.warnings[0]


# --- rule 4: wrong type, empty, too large ---------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("train.txt", "train.txt: the grader accepts .py, .ipynb or .zip files; rename your script to .py."),
        (
            "train",
            "train: the grader accepts .py, .ipynb or .zip files; if it is a Python script, rename it so that it ends in .py.",
        ),
        (
            "train.py.txt",
            "train.py.txt: the grader accepts .py, .ipynb or .zip files; your system added an extra extension: rename it to train.py.",
        ),
        (
            "project.rar",
            "project.rar: the grader accepts .py, .ipynb or .zip files; pack your project folder as a .zip instead.",
        ),
        (
            "model.pt",
            "model.pt: the grader accepts .py, .ipynb or .zip files; upload the code that trains your model, not saved weights: the grader trains it itself.",
        ),
        (
            "report.pdf",
            "report.pdf: the grader accepts .py, .ipynb or .zip files; upload your Python script (.py), your notebook (.ipynb) or a .zip of your project folder.",
        ),
    ],
)
def test_wrong_extension(filename: str, expected: str) -> None:
    assert rejected(filename, b"print(1)\n") == expected


def test_empty_upload() -> None:
    assert (
        rejected("train.py", b"") == "train.py is empty (0 bytes). Upload the file that contains your code."
    )


def test_upload_too_large() -> None:
    message = rejected("nb.ipynb", b"x" * 2048, UploadLimits(max_upload_bytes=1024))
    assert message.startswith("nb.ipynb is 0.0 MB, over the upload limit of 0.0 MB.")
    assert "Clear the notebook's outputs" in message
    big = rejected("train.py", b"x" * (6 * 1024 * 1024))
    assert big.startswith("train.py is 6.0 MB, over the upload limit of 5.0 MB.")


# --- notebooks ------------------------------------------------------------------------------------


def test_notebook_list_and_string_sources() -> None:
    content = notebook(["import torch\n", "x = 1\n"], ("markdown", "# Title"), "y = x + 1")
    prepared = prepare_submission("My Work.ipynb", content)
    assert (prepared.entry, prepared.kind, prepared.mode, prepared.warnings) == (
        "my_work.py",
        "notebook",
        "script",
        [],
    )
    script = prepared.files["my_work.py"].decode()
    assert "# %% cell 1\nimport torch\nx = 1\n" in script
    assert "# %% cell 2\ny = x + 1\n" in script and "Title" not in script


def test_notebook_without_usable_name_becomes_notebook_py() -> None:
    assert prepare_submission("2024 – 01.ipynb", notebook("x = 1")).entry == "notebook.py"
    assert prepare_submission("random.ipynb", notebook("x = 1")).entry == "notebook.py"


def test_notebook_magics_shell_and_help_lines_are_dropped() -> None:
    content = notebook(
        "%matplotlib inline\nimport torch",
        "!pip install torch\nx = 1",
        "torch.nn.Linear?\n??torch.optim\ny = 2  # why?",
    )
    prepared = prepare_submission("nb.ipynb", content)
    assert prepared.warnings == [
        'Cell 1: dropped "%matplotlib inline" (IPython magics do not run in the grader)',
        'Cell 2: dropped "!pip install torch" (shell commands do not run in the grader)',
        'Cell 3: dropped "torch.nn.Linear?" (help lines ("x?") do not run in the grader)',
        'Cell 3: dropped "??torch.optim" (help lines ("x?") do not run in the grader)',
    ]
    script = prepared.files["nb.py"].decode()
    ast.parse(script)
    assert "import torch\n" in script and "y = 2  # why?" in script
    assert "\n%" not in script and "\n!" not in script


def test_cell_magic_drops_whole_cell_but_time_keeps_body() -> None:
    content = notebook("%%bash\necho hi\nls", "%%time\nmodel = 1", "%%writefile utils.py\ndef f(): pass")
    prepared = prepare_submission("nb.ipynb", content)
    assert (
        prepared.warnings[0]
        == 'Cell 1: dropped the whole cell "%%bash" (cell magics do not run in the grader)'
    )
    assert (
        prepared.warnings[1]
        == 'Cell 2: ran the cell without "%%time" (IPython magics do not run in the grader)'
    )
    assert prepared.warnings[2].startswith('Cell 3: dropped the whole cell "%%writefile utils.py" (the file')
    script = prepared.files["nb.py"].decode()
    tree = ast.parse(script)
    assert [node.targets[0].id for node in tree.body if isinstance(node, ast.Assign)] == ["model"]  # type: ignore[attr-defined]


def test_indented_magic_becomes_pass() -> None:
    content = notebook("for i in range(2):\n    !echo $i\nif True:\n    %time z = 3\n")
    script = prepare_submission("nb.ipynb", content).files["nb.py"].decode()
    assert "    pass  # dropped by the grader: !echo $i\n" in script
    assert "    z = 3\n" in script
    ast.parse(script)


def test_magic_like_text_inside_strings_and_brackets_is_kept() -> None:
    source = 's = """\n!not a shell line\n%not a magic\n"""\nx = (10\n  % 3)\nif x != 1:\n    pass\n'
    prepared = prepare_submission("nb.ipynb", notebook(source))
    assert prepared.warnings == []
    assert source in prepared.files["nb.py"].decode()


def test_shell_line_continued_with_backslash_is_dropped_entirely() -> None:
    prepared = prepare_submission("nb.ipynb", notebook("!pip install torch \\\n    numpy\nx = 1"))
    script = prepared.files["nb.py"].decode()
    ast.parse(script)
    assert "\n    numpy" not in script and len(prepared.warnings) == 1


def test_get_ipython_calls_are_left_alone() -> None:
    prepared = prepare_submission(
        "nb.ipynb", notebook("get_ipython().run_line_magic('matplotlib', 'inline')")
    )
    assert prepared.warnings == []
    assert "get_ipython().run_line_magic('matplotlib', 'inline')" in prepared.files["nb.py"].decode()


def test_notebook_mode_detection() -> None:
    prepared = prepare_submission("solution.ipynb", notebook("import torch", MODULE_SRC.decode()))
    assert (prepared.entry, prepared.mode) == ("solution.py", "module")


def test_notebook_bad_json() -> None:
    message = rejected("nb.ipynb", b'{"nbformat": 4,\n "cells": [}')
    assert message.startswith("nb.ipynb is not a valid notebook: its JSON is broken at line 2, column 12")
    assert "export your code as a .py file" in message


def test_notebook_format_3_is_rejected() -> None:
    content = json.dumps({"nbformat": 3, "worksheets": [{"cells": []}]}).encode()
    message = rejected("old.ipynb", content)
    assert message.startswith("old.ipynb uses notebook format 3, but the grader reads format 4 only.")
    assert "save it" in message and ".py file" in message


def test_notebook_not_a_notebook_and_no_code_cells() -> None:
    assert rejected("x.ipynb", b"[1, 2]").startswith(
        'x.ipynb does not look like a Jupyter notebook (it has no "nbformat"'
    )
    assert rejected("x.ipynb", notebook(("markdown", "hi"))).startswith(
        "x.ipynb has no code cells, so there is nothing to run."
    )
    assert "code cell 1 has a broken source field" in rejected("x.ipynb", notebook([1, 2]))  # type: ignore[list-item]


# --- zips: hostile archives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../evil.py", '"../evil.py", a path that points outside the zip ("..")'),
        ("src/../../evil.py", '"src/../../evil.py", a path that points outside the zip ("..")'),
        ("..\\evil.py", '"..\\evil.py", a path that points outside the zip ("..")'),
        ("/etc/passwd", '"/etc/passwd", an absolute path'),
        ("C:/Windows/evil.py", '"C:/Windows/evil.py", an absolute path'),
    ],
)
def test_zip_path_traversal_rejected(name: str, expected: str) -> None:
    message = rejected("project.zip", make_zip([("solution.py", MODULE_SRC), (zipfile.ZipInfo(name), b"x")]))
    assert message.startswith(f"project.zip contains {expected}")
    assert "Create the zip again" in message


def test_zip_symlink_rejected() -> None:
    link = zipfile.ZipInfo("data.txt")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    message = rejected("p.zip", make_zip([("solution.py", MODULE_SRC), (link, b"/etc/passwd")]))
    assert message.startswith('p.zip contains "data.txt", a symbolic link.')
    assert "replace the link with the file it points to" in message


@pytest.mark.parametrize("kind", [stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK])
def test_zip_special_files_rejected(kind: int) -> None:
    special = zipfile.ZipInfo("pipe")
    special.external_attr = (kind | 0o644) << 16
    message = rejected("p.zip", make_zip([("solution.py", MODULE_SRC), (special, b"")]))
    assert message.startswith(
        'p.zip contains "pipe", which is not a regular file (a device, pipe or socket).'
    )


def test_zip_encrypted_member_rejected() -> None:
    data = patch_central(make_zip({"solution.py": MODULE_SRC}), 8, "<H", 0x1)
    message = rejected("p.zip", data)
    assert (
        message
        == 'p.zip: "solution.py" is encrypted (password-protected). Create the zip again without a password.'
    )


def test_zip_bzip2_rejected() -> None:
    message = rejected("p.zip", make_zip({"solution.py": MODULE_SRC}, zipfile.ZIP_BZIP2))
    assert message.startswith(
        'p.zip: "solution.py" is compressed with the bzip2 method, which the grader does not accept.'
    )


def test_zip_bomb_rejected_by_declared_size() -> None:
    message = rejected(
        "bomb.zip", make_zip({"solution.py": MODULE_SRC, "zeros.bin": bytes(50 * 1024 * 1024)})
    )
    assert message.startswith('bomb.zip: "zeros.bin" is 50.0 MB, over the limit of 10.0 MB.')


def test_zip_compression_ratio_rejected() -> None:
    limits = UploadLimits(max_file_bytes=2**30, max_total_bytes=2**30)
    message = rejected("bomb.zip", make_zip({"zeros.bin": bytes(5 * 1024 * 1024)}), limits)
    assert message.startswith('bomb.zip: "zeros.bin" expands ')
    assert "times when unpacked (the limit is 100 times), which is how zip bombs look." in message


def test_zip_overall_ratio_rejected() -> None:
    limits = UploadLimits(max_file_bytes=2**30, max_total_bytes=2**30, max_ratio=50)
    members = {f"zeros{i}.bin": bytes(600 * 1024) for i in range(10)}  # each under the ratio grace size
    message = rejected("bomb.zip", make_zip(members), limits)
    assert message.startswith("bomb.zip: the whole archive expands ")


def test_zip_total_size_rejected() -> None:
    members = {f"part{i}.bin": bytes(range(256)) * 4096 for i in range(3)}  # 1 MiB each, incompressible-ish
    message = rejected(
        "p.zip", make_zip(members, zipfile.ZIP_STORED), UploadLimits(max_total_bytes=2 * 1024 * 1024)
    )
    assert message.startswith("p.zip: the unpacked content is 3.0 MB, over the limit of 2.0 MB.")


def test_zip_lying_small_size_never_unpacks_more() -> None:
    honest = make_zip({"solution.py": b"x = 1\n" + bytes(3_000_000)})
    lying = patch_central(honest, 24, "<I", 1000)  # central directory: uncompressed size 1000
    message = rejected("p.zip", lying, UploadLimits(max_file_bytes=1_000_000))
    assert message.startswith('p.zip: "solution.py" cannot be unpacked (')
    assert "the archive is damaged. Create the zip again." in message


def test_zip_lying_large_size_rejected_before_reading() -> None:
    lying = patch_central(make_zip({"solution.py": MODULE_SRC}), 24, "<I", 50 * 1024 * 1024)
    assert rejected("p.zip", lying).startswith('p.zip: "solution.py" is 50.0 MB, over the limit of 10.0 MB.')


def test_zip_too_many_files() -> None:
    members = {f"f{i}.py": b"" for i in range(6)}
    message = rejected("p.zip", make_zip(members), UploadLimits(max_files=5))
    assert message.startswith("p.zip has more than 5 files, the most the grader accepts.")
    assert "virtual environments (venv)" in message


def test_zip_duplicate_names_after_normalisation() -> None:
    data = make_zip(
        [("src/model.py", b"a"), (zipfile.ZipInfo("src\\model.py"), b"b"), ("solution.py", MODULE_SRC)]
    )
    message = rejected("p.zip", data)
    assert message == (
        'p.zip contains the same file twice: "src/model.py" and "src\\model.py" both unpack to "src/model.py". '
        "Remove one of them and zip the folder again."
    )


def test_zip_file_and_folder_clash() -> None:
    message = rejected("p.zip", make_zip({"solution.py": MODULE_SRC, "model": b"x", "model/net.py": b""}))
    assert message.startswith('p.zip: "model" is both a file ("model") and a folder (for "model/net.py").')


def test_zip_too_deep() -> None:
    message = rejected(
        "p.zip", make_zip({"solution.py": MODULE_SRC, "a/b/c/d.py": b""}), UploadLimits(max_depth=2)
    )
    assert message.startswith('p.zip: "a/b/c/d.py" is nested 3 folders deep; the limit is 2.')


def test_zip_not_a_zip_and_empty_zip() -> None:
    assert rejected("p.zip", b"PK\x03\x04garbage").startswith("p.zip is not a readable zip archive (")
    assert rejected("p.zip", make_zip({"src/": b""})).startswith(
        "p.zip contains no files (only folders or system files)."
    )


def test_zip_non_utf8_python_member_rejected() -> None:
    message = rejected("p.zip", make_zip({"solution.py": MODULE_SRC, "lib/util.py": b"\xff"}))
    assert message.startswith("p.zip: lib/util.py is not UTF-8 text: the byte 0xff at offset 0 (line 1)")


# --- zips: layout and entry point -----------------------------------------------------------------


def test_zip_strips_top_folder_and_ignores_junk() -> None:
    data = make_zip(
        {
            "project/solution.py": MODULE_SRC,
            "project/lib/util.py": b"def f(): pass\n",
            "project/.DS_Store": b"\0",
            "project/__pycache__/util.cpython-311.pyc": b"\0",
            "project/lib/old.pyc": b"\0",
            "project/.ipynb_checkpoints/nb-checkpoint.ipynb": b"{}",
            "__MACOSX/project/._solution.py": b"\0",
        }
    )
    prepared = prepare_submission("project.zip", data)
    assert_safe(prepared)
    assert prepared.files == {"lib/util.py": b"def f(): pass\n", "solution.py": MODULE_SRC}
    assert (prepared.entry, prepared.mode, prepared.kind) == ("solution.py", "module", "zip")
    assert prepared.warnings == [
        "Left out 5 system or cache file(s) the grader does not need: __MACOSX/project/._solution.py, "
        "project/.DS_Store, project/.ipynb_checkpoints/nb-checkpoint.ipynb, "
        "project/__pycache__/util.cpython-311.pyc, project/lib/old.pyc."
    ]


def test_zip_grader_toml_entry() -> None:
    data = make_zip(
        {"solution.py": MODULE_SRC, "src/run.py": SCRIPT_SRC, "grader.toml": b'entry = "src/run.py"\n'}
    )
    prepared = prepare_submission("p.zip", data)
    assert (prepared.entry, prepared.mode, prepared.warnings) == ("src/run.py", "script", [])


def test_zip_grader_toml_entry_may_include_stripped_folder_or_name_a_notebook() -> None:
    data = make_zip(
        {"proj/Train.ipynb": notebook("x = 1"), "proj/grader.toml": b'entry = "proj/Train.ipynb"'}
    )
    prepared = prepare_submission("p.zip", data)
    assert prepared.entry == "train.py" and "Train.ipynb" not in prepared.files


def test_zip_entry_txt() -> None:
    data = make_zip({"a.py": SCRIPT_SRC, "b.py": SCRIPT_SRC, "entry.txt": b"# which one\nb.py\n"})
    assert prepare_submission("p.zip", data).entry == "b.py"


def test_zip_declared_entry_missing_lists_python_files() -> None:
    data = make_zip({"train.py": SCRIPT_SRC, "util.py": b"", "grader.toml": b'entry = "trian.py"'})
    assert rejected("p.zip", data) == (
        'p.zip: grader.toml names "trian.py" as the file to run, but the zip has no such file. '
        "Python files in the zip: train.py, util.py. Fix the name in grader.toml "
        "(paths are relative to the top of the zip)."
    )


def test_zip_declared_entry_not_python_and_bad_toml() -> None:
    data = make_zip({"train.py": SCRIPT_SRC, "data.csv": b"1,2", "grader.toml": b'entry = "data.csv"'})
    assert 'names "data.csv" as the file to run, but it must be a .py file or a notebook' in rejected(
        "p.zip", data
    )
    bad = make_zip({"train.py": SCRIPT_SRC, "grader.toml": b"entry = train.py"})
    message = rejected("p.zip", bad)
    assert message.startswith("p.zip: grader.toml cannot be read (") and 'entry = "train.py"' in message
    missing = make_zip({"train.py": SCRIPT_SRC, "grader.toml": b'name = "x"'})
    assert rejected("p.zip", missing).startswith('p.zip: grader.toml has no entry = "..." line')


@pytest.mark.parametrize(
    ("members", "entry", "note"),
    [
        ({"solution.py": MODULE_SRC, "main.py": SCRIPT_SRC}, "solution.py", None),
        (
            {"main.py": SCRIPT_SRC, "train.py": SCRIPT_SRC},
            "main.py",
            "Running main.py: the zip has no grader.toml or solution.py.",
        ),
        (
            {"train.py": SCRIPT_SRC, "util.py": b""},
            "train.py",
            "Running train.py: the zip has no grader.toml or solution.py.",
        ),
        (
            {"fit.py": SCRIPT_SRC, "lib/util.py": b""},
            "fit.py",
            "Running fit.py, the only Python file at the top of the zip.",
        ),
        (
            {"Lab 3.ipynb": notebook("x = 1"), "data/x.csv": b"1"},
            "lab_3.py",
            "Running Lab 3.ipynb, the only notebook at the top of the zip.",
        ),
    ],
)
def test_zip_entry_fallbacks(members: dict[str, bytes], entry: str, note: str | None) -> None:
    prepared = prepare_submission("p.zip", make_zip(members))
    assert prepared.entry == entry
    assert prepared.warnings == ([note] if note else [])


def test_zip_ambiguous_entry_lists_candidates() -> None:
    message = rejected(
        "p.zip", make_zip({"fit.py": SCRIPT_SRC, "model.py": b"", "explore.ipynb": notebook("x = 1")})
    )
    assert message == (
        "p.zip: cannot tell which file to run. Candidates: explore.ipynb, fit.py, model.py. Name the file to run "
        'in a file grader.toml at the top of the zip containing the line: entry = "your_file.py", or rename it '
        "to solution.py."
    )


def test_zip_with_no_python_at_top_lists_nested_files() -> None:
    message = rejected("p.zip", make_zip({"src/a.py": b"", "src/b.py": b"", "README.md": b"hi"}))
    assert message.startswith("p.zip: cannot tell which file to run. Candidates: src/a.py, src/b.py.")


def test_zip_notebook_converted_with_warnings_and_name_clash() -> None:
    members = {"train.py": SCRIPT_SRC, "train.ipynb": notebook("!nvidia-smi\nx = 1")}
    prepared = prepare_submission("p.zip", make_zip(members))
    assert sorted(prepared.files) == ["train.py", "train_notebook.py"] and prepared.entry == "train.py"
    assert prepared.warnings == [
        'train.ipynb: Cell 1: dropped "!nvidia-smi" (shell commands do not run in the grader)',
        "train.ipynb was converted to train_notebook.py (the name train.py was taken).",
        "Running train.py: the zip has no grader.toml or solution.py.",
    ]


def test_zip_bad_notebook_is_rejected_with_its_path() -> None:
    data = make_zip({"solution.py": MODULE_SRC, "nb/old.ipynb": json.dumps({"nbformat": 3}).encode()})
    assert rejected("p.zip", data).startswith("p.zip: nb/old.ipynb uses notebook format 3")


def test_zip_module_entry_with_unimportable_name_rejected() -> None:
    data = make_zip({"random.py": MODULE_SRC, "grader.toml": b'entry = "random.py"'})
    assert rejected("p.zip", data) == (
        'p.zip: random.py defines build_model(), so the grader imports it as a module, but "random" '
        "cannot be imported under that name. Rename the file to solution.py."
    )


def test_zip_notebook_with_reserved_name_is_renamed() -> None:
    members = {"solution.py": MODULE_SRC, "random.ipynb": notebook("x = 1")}
    prepared = prepare_submission("p.zip", make_zip(members))
    assert sorted(prepared.files) == ["random_notebook.py", "solution.py"]
    assert prepared.warnings == [
        "random.ipynb was converted to random_notebook.py (the name random.py is not usable)."
    ]
