"""Reads an uploaded .zip in memory, refusing anything that could hurt the host or the sandbox.

Nothing is written to disk and nothing is executed. Paths are normalised and
checked (no absolute paths, drive letters, ``..``, backslash tricks, duplicates,
file/folder clashes), only regular files are accepted (no symlinks, devices,
FIFOs, sockets), encrypted members and exotic compression methods are refused,
and members are decompressed in chunks so that reading stops as soon as a size
or ratio cap is passed, whatever the archive declares.
"""

from __future__ import annotations

import io
import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.engine.runner.submission import UploadLimits

CHUNK = 64 * 1024
RATIO_GRACE_BYTES = 1024 * 1024  # ratios are only judged above this much data: tiny files compress a lot
IGNORED_FOLDERS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}
IGNORED_NAMES = {".DS_Store"}
IGNORED_SUFFIXES = (".pyc",)
COMPRESSION_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "Deflate64"}
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
# What zipfile raises on damaged or forged archives (UnicodeDecodeError is a ValueError).
ZIP_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, OSError, EOFError, ValueError,
    NotImplementedError, RuntimeError,
)  # fmt: skip


class ArchiveError(ValueError):
    """The archive is refused; the message is meant for the student."""


@dataclass
class ArchiveContents:
    files: dict[str, bytes] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    stripped_folder: str | None = None


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def display_name(name: str) -> str:
    """A member name safe to show: control characters escaped, long names shortened."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)
    return text if len(text) <= 120 else text[:117] + "..."


def normalise(raw: str, zip_name: str) -> list[str]:
    """A member's path as a list of safe components; raises ArchiveError for anything unsafe."""
    shown = display_name(raw)
    name = raw.replace("\\", "/")
    redo = "Create the zip again from your project folder (e.g. with your system's Compress command)."
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        raise ArchiveError(
            f'{zip_name} contains "{shown}", an absolute path. Files in the zip must be inside your '
            f"project folder. {redo}"
        )
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(
            f'{zip_name} contains "{shown}", a path that points outside the zip (".."). Files in the '
            f"zip must be inside your project folder. {redo}"
        )
    if any(not ch.isprintable() for part in parts for ch in part):
        raise ArchiveError(f'{zip_name} contains "{shown}", a file name with control characters. Rename it.')
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in parts) or (
        len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES
    ):
        raise ArchiveError(f'{zip_name} contains "{shown}", a file name that is too long. Use shorter names.')
    return [unicodedata.normalize("NFC", part) for part in parts]


def _is_ignored(parts: list[str]) -> bool:
    return (
        any(part in IGNORED_FOLDERS for part in parts[:-1])
        or parts[-1] in IGNORED_NAMES
        or parts[-1].endswith(IGNORED_SUFFIXES)
    )


def _check_member(info: zipfile.ZipInfo, shown: str, zip_name: str) -> bool:
    """False for a directory entry; raises ArchiveError for members that are not plain files."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise ArchiveError(
            f'{zip_name} contains "{shown}", a symbolic link. The grader accepts only regular files: '
            "replace the link with the file it points to, then zip the folder again."
        )
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError(
            f'{zip_name} contains "{shown}", which is not a regular file (a device, pipe or socket). '
            "Remove it and zip the folder again."
        )
    if info.filename.endswith(("/", "\\")) or kind == stat.S_IFDIR:
        return False
    if info.flag_bits & 0x1:
        raise ArchiveError(
            f'{zip_name}: "{shown}" is encrypted (password-protected). Create the zip again without a password.'
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        method = COMPRESSION_NAMES.get(info.compress_type, f"number {info.compress_type}")
        raise ArchiveError(
            f'{zip_name}: "{shown}" is compressed with the {method} method, which the grader does not '
            "accept. Create the zip again with the standard Deflate method (your system's Compress "
            "command or `zip -r` do this)."
        )
    return True


def _too_big(zip_name: str, what: str, size: str, limit: str) -> ArchiveError:
    return ArchiveError(
        f"{zip_name}: {what} is {size}, over the limit of {limit}. Leave out data sets, model "
        "checkpoints, virtual environments and other large files: the grader provides the data."
    )


def _bomb(zip_name: str, what: str, ratio: float, limit: float) -> ArchiveError:
    return ArchiveError(
        f"{zip_name}: {what} expands {ratio:.0f} times when unpacked (the limit is {limit:.0f} times), "
        "which is how zip bombs look. Leave out large generated or padded files and zip the folder again."
    )


def _plan(
    archive: zipfile.ZipFile, archive_size: int, zip_name: str, limits: UploadLimits
) -> tuple[list[tuple[zipfile.ZipInfo, list[str]]], list[str]]:
    """Members to read with their paths, and the names of ignored members."""
    kept: list[tuple[zipfile.ZipInfo, list[str]]] = []
    ignored: list[str] = []
    for info in archive.infolist():
        parts = normalise(info.filename, zip_name)
        shown = display_name(info.filename)
        if not _check_member(info, shown, zip_name) or not parts:
            continue
        if _is_ignored(parts):
            ignored.append("/".join(parts))
            continue
        kept.append((info, parts))
        if len(kept) > limits.max_files:
            raise ArchiveError(
                f"{zip_name} has more than {limits.max_files} files, the most the grader accepts. "
                "Leave out data sets, virtual environments (venv), .git folders and other files "
                "your code does not need."
            )
        if info.file_size > limits.max_file_bytes:
            raise _too_big(zip_name, f'"{shown}"', _mb(info.file_size), _mb(limits.max_file_bytes))
        if info.file_size > RATIO_GRACE_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise _bomb(
                zip_name,
                f'"{shown}"',
                info.file_size / max(min(info.compress_size, archive_size), 1),
                limits.max_ratio,
            )
    declared = sum(info.file_size for info, _ in kept)
    if declared > limits.max_total_bytes:
        raise _too_big(zip_name, "the unpacked content", _mb(declared), _mb(limits.max_total_bytes))
    compressed = max(min(sum(info.compress_size for info, _ in kept), archive_size), 1)
    if declared > RATIO_GRACE_BYTES and declared > limits.max_ratio * compressed:
        raise _bomb(zip_name, "the whole archive", declared / compressed, limits.max_ratio)
    return kept, ignored


def _finish_paths(
    kept: list[tuple[zipfile.ZipInfo, list[str]]], zip_name: str, limits: UploadLimits
) -> tuple[list[tuple[zipfile.ZipInfo, str]], str | None]:
    """Strip a single top folder, then check depth, duplicates and file/folder clashes."""
    tops = {parts[0] for _, parts in kept}
    stripped = None
    if len(tops) == 1 and all(len(parts) > 1 for _, parts in kept):
        stripped = tops.pop()
        kept = [(info, parts[1:]) for info, parts in kept]
    seen: dict[str, str] = {}
    folders: dict[str, str] = {}
    result: list[tuple[zipfile.ZipInfo, str]] = []
    for info, parts in kept:
        path = "/".join(parts)
        shown = display_name(info.filename)
        if len(parts) - 1 > limits.max_depth:
            raise ArchiveError(
                f'{zip_name}: "{shown}" is nested {len(parts) - 1} folders deep; the limit is '
                f"{limits.max_depth}. Flatten your project's folders."
            )
        if path in seen:
            raise ArchiveError(
                f'{zip_name} contains the same file twice: "{seen[path]}" and "{shown}" both unpack to '
                f'"{display_name(path)}". Remove one of them and zip the folder again.'
            )
        seen[path] = shown
        for depth in range(1, len(parts)):
            folders.setdefault("/".join(parts[:depth]), shown)
        result.append((info, path))
    for path, shown in seen.items():
        if path in folders:
            raise ArchiveError(
                f'{zip_name}: "{display_name(path)}" is both a file ("{shown}") and a folder (for "{folders[path]}"). '
                "Rename one of them."
            )
    return result, stripped


def read_archive(zip_name: str, content: bytes, limits: UploadLimits) -> ArchiveContents:
    """Every regular, non-ignored member as path -> bytes. Raises ArchiveError."""
    damaged = (
        f"{zip_name} is not a readable zip archive ({{}}). Create it again with your system's "
        "Compress command (Windows: Send to > Compressed (zipped) folder; macOS: Compress)."
    )
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except ZIP_ERRORS as exc:
        raise ArchiveError(damaged.format(exc)) from None
    with archive:
        kept, ignored = _plan(archive, len(content), zip_name, limits)
        members, stripped = _finish_paths(kept, zip_name, limits)
        if not members:
            raise ArchiveError(
                f"{zip_name} contains no files (only folders or system files). Zip the folder that holds your code."
            )
        files: dict[str, bytes] = {}
        total = 0
        archive_size = len(content)
        compressed = max(min(sum(info.compress_size for info, _ in members), archive_size), 1)
        for info, path in members:
            shown = display_name(info.filename)
            chunks: list[bytes] = []
            size = 0
            try:
                with archive.open(info) as handle:
                    while chunk := handle.read(CHUNK):
                        size += len(chunk)
                        total += len(chunk)
                        if size > info.file_size:
                            raise ArchiveError(
                                f'{zip_name}: "{shown}" holds more data than the zip declares for it, so '
                                "the archive is damaged or forged. Create the zip again."
                            )
                        if size > limits.max_file_bytes:
                            raise _too_big(
                                zip_name, f'"{shown}"', f"over {_mb(size)}", _mb(limits.max_file_bytes)
                            )
                        if total > limits.max_total_bytes:
                            raise _too_big(
                                zip_name,
                                "the unpacked content",
                                f"over {_mb(total)}",
                                _mb(limits.max_total_bytes),
                            )
                        if size > RATIO_GRACE_BYTES and size > limits.max_ratio * max(
                            min(info.compress_size, archive_size), 1
                        ):
                            raise _bomb(
                                zip_name,
                                f'"{shown}"',
                                size / max(min(info.compress_size, archive_size), 1),
                                limits.max_ratio,
                            )
                        if total > RATIO_GRACE_BYTES and total > limits.max_ratio * compressed:
                            raise _bomb(zip_name, "the whole archive", total / compressed, limits.max_ratio)
                        chunks.append(chunk)
            except ZIP_ERRORS as exc:
                if isinstance(exc, ArchiveError):
                    raise
                raise ArchiveError(
                    f'{zip_name}: "{shown}" cannot be unpacked ({exc}); the archive is damaged. '
                    "Create the zip again."
                ) from None
            files[path] = b"".join(chunks)
        return ArchiveContents(files, sorted(ignored), stripped)
