"""The original tool's ``.npy`` files, read without running pickled code.

The original tool stores its data and results as pickled numpy object
arrays. Loading those with ``allow_pickle=True`` would let a crafted file run
any code, so :func:`load_npy` rebuilds them with an unpickler that can make
nothing but plain numpy arrays, numpy scalars and builtin values.
"""

from __future__ import annotations

import os
import pickle
import re
import zlib
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from tis_transformer.predictor.errors import InputError
from tis_transformer.predictor.input_files import one_line as _one_line, open_binary as _open_binary

__all__ = ["NPY_MAGIC", "load_npy", "npy_records"]

NPY_MAGIC = b"\x93NUMPY"
_MAX_TOKEN = 4


def npy_records(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    array = load_npy(path)
    if array.dtype != object:
        yield _numeric_record(path, array)
        return
    # Data files are (n, 2) and results files (n, 3) object arrays; a 1-D
    # object array of row sequences is accepted too.
    if array.ndim not in (1, 2):
        raise InputError(
            f"{path}: unexpected object array of shape {array.shape}; "
            "expected rows of [tokens, id] or ['>id', tokens, probabilities]"
        )
    for index, row in enumerate(array, start=1):
        if not isinstance(row, (list, tuple, np.ndarray)):
            raise InputError(
                f"{path}: row {index} is a {type(row).__name__}; expected "
                "[tokens, id] or ['>id', tokens, probabilities]"
            )
        yield _object_row(path, index, list(row))


def _numeric_record(path: Path, array: np.ndarray) -> tuple[str, np.ndarray]:
    """A plain integer array is one transcript named after the file."""
    name = _stem(path)
    if array.dtype.kind not in "iu":
        raise InputError(f"{path}: expected integer tokens, found dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] == 2:
        array = array[:, 0]
    if array.ndim != 1:
        raise InputError(f"{path}: expected a 1-D token array, found shape {array.shape}")
    if array.size == 0:
        raise InputError(f"{path}: record {name!r}: empty sequence")
    return name, _checked_tokens(f"{path}: record {name!r}", array)


def _object_row(path: Path, index: int, row: list) -> tuple[str, np.ndarray]:
    """One row of a data file ``[(L, 2) array, id]`` or of a results file
    ``['>id', tokens, probabilities]``."""
    if len(row) >= 2 and isinstance(row[0], str) and isinstance(row[1], np.ndarray):
        transcript_id, tokens = row[0], row[1]
        if transcript_id.startswith(">"):
            transcript_id = transcript_id[1:]
    elif len(row) >= 2 and isinstance(row[0], np.ndarray) and isinstance(row[1], str):
        tokens, transcript_id = row[0], row[1]
        if tokens.ndim == 2 and tokens.shape[1] == 2:
            tokens = tokens[:, 0]
    else:
        kinds = ", ".join(type(value).__name__ for value in row)
        raise InputError(
            f"{path}: row {index} holds ({kinds}); expected [tokens, id] or "
            "['>id', tokens, probabilities]"
        )
    transcript_id = str(transcript_id)
    if not transcript_id or any(ch.isspace() for ch in transcript_id):
        raise InputError(f"{path}: row {index}: bad transcript id {transcript_id!r}")
    name = f"{path}: record {transcript_id!r}"
    if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
        raise InputError(f"{name}: expected integer tokens, found {tokens.dtype} {tokens.shape}")
    if tokens.size == 0:
        raise InputError(f"{name}: empty sequence")
    return transcript_id, _checked_tokens(name, tokens)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".npy"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _checked_tokens(name: str, tokens: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero((tokens < 0) | (tokens > _MAX_TOKEN))
    if bad.size:
        pos = int(bad[0])
        raise InputError(f"{name}: invalid token {int(tokens[pos])} at position {pos + 1}")
    return tokens.astype(np.uint8)


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load a ``.npy`` or ``.npy.gz`` file without running pickled code.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip compression is detected from its first bytes.

    Returns
    -------
    numpy.ndarray
        The stored array. Object arrays may hold only numpy arrays of plain
        numeric, string or object dtype, numpy scalars, and builtin values.

    Raises
    ------
    InputError
        When the file is not a readable ``.npy`` or its pickle asks for
        anything other than numpy arrays, dtypes and scalars.
    """
    path = Path(path)
    try:
        with _open_binary(path) as handle:
            return _load_npy_handle(path, handle)
    except InputError:
        raise
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot read: {_one_line(error)}") from None


def _load_npy_handle(path: Path, handle: IO[bytes]) -> np.ndarray:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(handle)
        else:
            raise InputError(f"{path}: unsupported .npy version {version}")
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - numpy's header parser raises ValueError, SyntaxError, TokenError...
        raise InputError(f"{path}: not a valid .npy file: {_one_line(error)}") from None
    if dtype.hasobject:
        array = _restricted_unpickle(path, handle)
        if not isinstance(array, np.ndarray):
            raise InputError(f"{path}: pickled data is not an array")
        return array
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise InputError(f"{path}: unsupported dtype {dtype}")
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    data = handle.read(nbytes)
    if len(data) != nbytes:
        raise InputError(f"{path}: truncated .npy data ({len(data)} of {nbytes} bytes)")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C").copy()


# -------------------------------------------------------- restricted pickle
#
# numpy pickles an array as ``_reconstruct(ndarray, (0,), b'b')`` followed by
# ``__setstate__((version, shape, dtype, fortran, data))`` and a dtype as
# ``dtype(name, False, True)`` followed by ``__setstate__(state)``. Instead of
# handing those (attacker-chosen) states to numpy, the unpickler below maps
# the allowed globals to stand-ins that check every argument and then build
# the array from plain bytes or a list, so numpy only ever sees a dtype made
# from a short, vetted type string.

_DTYPE_NAME = re.compile(r"^[<>|=]?(b1|[iu][1248]|f[248]|O[48]|[US]\d{1,9})$")
_BYTE_ORDERS = ("<", ">", "|", "=")
_MAX_NESTING = 8


class _UnsafePickle(Exception):
    """A pickle asked for something the restricted loader refuses."""


class _NdarrayMarker:
    """Stands for the ``numpy.ndarray`` class; it cannot be called."""


_NDARRAY = _NdarrayMarker()


class _DtypeStandIn:
    """A dtype under construction from a vetted type string."""

    def __init__(self, name: object, align: object = False, copy: object = True) -> None:
        if not isinstance(name, str) or not _DTYPE_NAME.match(name):
            raise _UnsafePickle(f"dtype {name!r} is not allowed")
        self.dtype = np.dtype(name)

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise _UnsafePickle("unexpected dtype state")
        order, subarray, names, fields, elsize = state[1:6]
        if order not in _BYTE_ORDERS or (subarray, names, fields) != (None, None, None):
            raise _UnsafePickle("structured or sub-array dtypes are not allowed")
        if not isinstance(elsize, int) or elsize not in (-1, self.dtype.itemsize):
            raise _UnsafePickle("dtype size does not match its name")
        if order in "<>" and self.dtype.byteorder != "|":
            self.dtype = self.dtype.newbyteorder(order)


class _ArrayStandIn:
    """An array under construction; :meth:`__setstate__` builds it."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple):
            raise _UnsafePickle("unexpected array state")
        if len(state) == 5:
            state = state[1:]
        if len(state) != 4:
            raise _UnsafePickle("unexpected array state")
        shape, dtype, fortran, data = state
        if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise _UnsafePickle("bad array shape")
        if not isinstance(dtype, _DtypeStandIn):
            raise _UnsafePickle("array dtype is not a numpy dtype")
        dtype_ = dtype.dtype
        count = int(np.prod(shape, dtype=np.int64))
        if dtype_.hasobject:
            if not isinstance(data, list) or len(data) != count:
                raise _UnsafePickle("object array data is not a list of the right length")
            array = np.empty(count, dtype=object)
            for index, item in enumerate(data):
                array[index] = _resolve(item, 0)
            # numpy lists object elements in C order whatever the layout.
            self.array = array.reshape(shape)
        else:
            if not isinstance(data, bytes) or len(data) != count * dtype_.itemsize:
                raise _UnsafePickle("array data does not match its shape and dtype")
            array = np.frombuffer(data, dtype=dtype_, count=count)
            self.array = array.reshape(shape, order="F" if fortran else "C").copy()


def _make_array(subtype: object, shape: object, typecode: object) -> _ArrayStandIn:
    if subtype is not _NDARRAY:
        raise _UnsafePickle("only plain numpy arrays are allowed")
    return _ArrayStandIn()


def _make_scalar(dtype: object, data: object = None) -> object:
    if not isinstance(dtype, _DtypeStandIn) or dtype.dtype.hasobject:
        raise _UnsafePickle("only numeric and string numpy scalars are allowed")
    if not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise _UnsafePickle("numpy scalar data does not match its dtype")
    return np.frombuffer(data, dtype=dtype.dtype, count=1)[0]


def _resolve(item: object, depth: int) -> object:
    """Swap finished stand-ins for their arrays; refuse anything else odd."""
    if depth > _MAX_NESTING:
        raise _UnsafePickle("objects nested too deeply")
    if isinstance(item, _ArrayStandIn):
        if item.array is None:
            raise _UnsafePickle("array used before it was built")
        return item.array
    if isinstance(item, (list, tuple)):
        resolved = [_resolve(value, depth + 1) for value in item]
        return resolved if isinstance(item, list) else tuple(resolved)
    if item is None or isinstance(item, (str, bytes, int, float, np.generic)):
        return item
    raise _UnsafePickle(f"objects of type {type(item).__name__} are not allowed")


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _make_array,
    ("numpy._core.multiarray", "_reconstruct"): _make_array,
    ("numpy.core.multiarray", "scalar"): _make_scalar,
    ("numpy._core.multiarray", "scalar"): _make_scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeStandIn,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals are the stand-ins above and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _UnsafePickle(f"refused to load {module}.{name}") from None

    def persistent_load(self, pid: object) -> object:
        raise _UnsafePickle("persistent ids are not allowed")


def _restricted_unpickle(path: Path, handle: IO[bytes]) -> object:
    try:
        result = _RestrictedUnpickler(handle).load()
        return _resolve(result, 0)
    except _UnsafePickle as error:
        raise InputError(f"{path}: unsafe or unsupported pickle in .npy: {error}") from None
    except RecursionError:
        raise InputError(f"{path}: pickle nested too deeply") from None
    except Exception as error:  # noqa: BLE001 - any failure of a crafted pickle
        raise InputError(f"{path}: corrupt .npy object data: {_one_line(error)}") from None
