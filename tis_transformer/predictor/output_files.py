"""Output names and formats (``-o [FORMAT:]PATH``), and opening output files so that nothing is lost: a regular file is replaced whole or not at all, a symbolic link
is written through, a device or pipe is written directly, and a read-only file is refused."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterator

from tis_transformer.predictor.errors import InputError


FORMATS = ("npy", "tsv", "gff3", "bed", "positions", "multiqc")
# MultiQC finds its custom content by these endings.
_MULTIQC_ENDINGS = ("_mqc.tsv", "_mqc.txt")
POSITION_COLUMNS = ("transcript_id", "position", "nucleotide", "probability")
_ALIASES = {"gff": "gff3", "tab": "tsv", "txt": "tsv"}
_SUFFIXES = {
    ".npy": "npy",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".gff": "gff3",
    ".gff3": "gff3",
    ".bed": "bed",
}
# "-" as an output path is standard output
STDOUT = "-"
_FORMAT_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9]*):(.+)$")


class OutputError(InputError):
    """A bad output request (unknown format, unusable path); one line."""


def check_distinct(targets: list) -> None:
    """Refuse one output named twice: the same file (through links too), or standard output twice."""
    paths = [os.path.realpath(path) for path, _ in targets if path is not None]
    if len(set(paths)) != len(paths) or sum(path is None for path, _ in targets) > 1:
        raise OutputError("the same output is named twice")


def check_outputs(targets: list, inputs: list = ()) -> None:
    """Refuse, before any work is done, outputs that would replace an input, are named twice, or cannot or must
    not be written."""
    refuse_overwriting_inputs(targets, inputs)
    check_distinct(targets)
    for path, _ in targets:
        if path is not None:
            check_writable(path)


def refuse_overwriting_inputs(targets: list, inputs: list) -> None:
    """An output must never replace a file the run reads (the input, the model)."""
    for path, _ in targets:
        if path is None or not os.path.exists(path):
            continue
        for source in inputs:
            with contextlib.suppress(OSError):
                if os.path.samefile(path, source):
                    raise OutputError(f"{path}: the output would overwrite the input {source}; "
                                      "choose another name")


def refuse_writing_model_files(targets: list, files: list) -> None:
    """An output must never be written as a file of the model: its card, alone variant or graphs, existing or not.

    A file of that name beside the model is read as part of it by the next run.
    """
    owned = {os.path.realpath(file): file for file in files}
    for path, _ in targets:
        if path is None:
            continue
        file = owned.get(os.path.realpath(path))
        if file is None and os.path.exists(path):
            file = next((f for f in files if os.path.exists(f) and os.path.samefile(path, f)), None)
        if file is not None:
            raise OutputError(f"{path}: the output would replace {Path(file).name}, a file of the model; "
                              "choose another name")


def header_lines(header: dict, fmt: str) -> str:
    """The comment lines that open a table output: ``# name: value``, or GFF3's version line and ``#!`` pragmas."""
    if fmt == "gff3":
        return "##gff-version 3\n" + "".join(f"#!{key.replace(' ', '-')} {value}\n" for key, value in header.items())
    return "".join(f"# {key}: {value}\n" for key, value in header.items())


def check_writable(path: str | os.PathLike) -> None:
    """Refuse an output path that cannot or must not be written, before any work is done.

    Raises
    ------
    OutputError
        When the path is a directory, its directory is missing, it is a
        read-only file (refused even for root, who could write it), or it lies
        in the folder of the shipped models (package data).
    """
    from tis_transformer.predictor.registry import MODELS_DIR

    path = Path(path)
    real = Path(os.path.realpath(path))
    if real.parent == Path(os.path.realpath(MODELS_DIR)):
        raise OutputError(f"{path}: cannot write into the folder of the shipped models; choose another folder")
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if not real.parent.is_dir():
            raise OutputError(f"{path}: cannot write: no such directory {str(real.parent)!r}") from None
        return
    except OSError as error:
        raise OutputError(f"{path}: cannot write: {error.strerror or error}") from None
    if stat.S_ISDIR(status.st_mode):
        raise OutputError(f"{path}: cannot write: is a directory")
    if stat.S_ISREG(status.st_mode) and (not status.st_mode & 0o222 or not os.access(real, os.W_OK)):
        raise OutputError(f"{path}: cannot write: the file is read-only")


@contextlib.contextmanager
def open_output(path: Path, binary: bool) -> Iterator[IO]:
    """An output file: atomic for a regular file (or a link to one), direct for a device or pipe."""
    check_writable(path)
    if str(path).startswith(("/dev/", "/proc/")):
        # a device or a descriptor (/dev/stderr, /dev/fd/3): appended to, never truncated or replaced, since the
        # file a shell redirected there may hold what came before
        with open(path, "ab" if binary else "a", **({} if binary else {"encoding": "utf-8", "newline": "\n"})) \
                as handle:
            yield handle
        return
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(path).st_mode):
            # /dev/stdout, a named pipe, a terminal: written as the results come, never replaced
            with open(path, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": "\n"})) \
                    as handle:
                yield handle
            return
    with _atomic_output(Path(os.path.realpath(path)), binary, shown=path) as handle:
        yield handle


@contextlib.contextmanager
def _atomic_output(path: Path, binary: bool, shown: Path | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` that becomes ``path`` on success."""
    shown = shown or path
    directory = path.parent
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise OutputError(f"{shown}: cannot write: {error.strerror or error}") from None
    try:
        if binary:
            handle = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with handle:
            yield handle
        # mkstemp makes the file private; give it the mode it had, or the one a plain open would.
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(temporary, mode)
        try:
            os.replace(temporary, path)
        except OSError as error:
            raise OutputError(f"{shown}: cannot write: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def parse_output(output: str, fmt: str | None = None) -> tuple[str | None, str]:
    """Split one ``-o [FORMAT:]PATH`` option into ``(path, format)``.

    A leading word and a colon is always read as a format, so that an unknown
    one is refused instead of becoming part of a file name; ``-`` is
    standard output (path None). Write ``./name:with:colons.tsv`` for a file
    whose name holds a colon.
    """
    match = _FORMAT_PREFIX.match(output)
    if match:
        fmt, output = match.group(1), match.group(2)
    # /dev/stdout is this process's standard output, whatever file or pipe that is
    path = None if output in (STDOUT, "/dev/stdout") else output
    return path, format_from_path(path, fmt)


def format_from_path(path: str | None, fmt: str | None) -> str:
    """Decide the output format.

    Parameters
    ----------
    path : str or None
        The output file; ``None`` means standard output.
    fmt : str or None
        An explicit format (``npy``, ``tsv``, ``gff3``, ``bed``, ``positions``,
        ``multiqc``; ``gff``, ``tab`` and ``txt`` are accepted as aliases). It
        wins over the suffix; a name ending ``_mqc.tsv`` means ``multiqc``.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    OutputError
        When the format is unknown, cannot be told from the suffix, or is
        ``npy`` for standard output.
    """
    if path is not None and os.path.isdir(path):
        raise OutputError(f"{path}: is a folder; give a file path")
    if (fmt or "").lower() == "gtf" or (not fmt and path is not None and Path(path).suffix.lower() == ".gtf"):
        raise OutputError("GTF output needs genome coordinates: use it with --genome and --annotation; in "
                          "transcript coordinates write .gff3 or .bed")
    if fmt:
        chosen = _ALIASES.get(fmt.lower(), fmt.lower())
        if chosen not in FORMATS:
            raise OutputError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    elif path is None:
        chosen = "tsv"
    elif path.lower().endswith(_MULTIQC_ENDINGS):
        chosen = "multiqc"
    else:
        suffix = Path(path).suffix.lower()
        if suffix not in _SUFFIXES:
            raise OutputError(
                f"{path}: cannot tell the output format from the suffix {suffix or '(none)'!r}; "
                f"use .npy, .tsv, .gff3 or .bed, or give the format"
            )
        chosen = _SUFFIXES[suffix]
    if path is None and chosen == "npy":
        raise OutputError("npy output needs a file path, not standard output")
    return chosen
