"""Opening input files: gzip told by its first bytes, not by the name; errors as one line."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO

from tis_transformer.predictor.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: Path) -> IO[bytes]:
    """Open a file, decompressing it when its first bytes are gzip's."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if Path(path).suffix.lower() == ".gz":
        raise InputError(f"{path}: not a gzip file despite its .gz suffix")
    return open(path, "rb")


def one_line(error: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


# what train, evaluate and crossval read from a folder of per-chromosome data files
DATA_SUFFIXES = (".npz", ".npy.gz", ".npy")


def data_name(path: str | Path) -> str:
    """A data file's name without its format suffix (``DATA_SUFFIXES``): what tables and model cards call it.
    Only that suffix goes: ``hs.chr1.npz`` and ``mm.chr1.npz`` stay two names."""
    name = Path(path).name
    for suffix in DATA_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name
