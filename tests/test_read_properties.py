"""Property-based tests of the input readers: any input ends in records or in one InputError, never another
exception (hypothesis generates the inputs; the examples are random but reproducible per hypothesis' database)."""

import gzip
import io

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tis_transformer.predictor.read import InputError, read_records  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FASTA_ALPHABET = st.sampled_from(list(">ACGTUNacgtunRYKM \t\r\n;*-.0123456789xX\ufeff\u00e9\x00"))


def outcome(source: str):
    """Read every record; return them, or the InputError's message."""
    try:
        records = list(read_records(source))
    except InputError as error:
        message = str(error)
        assert message and "\n" not in message, message
        return message
    for name, tokens in records:
        assert isinstance(name, str) and name
        assert tokens.dtype == np.uint8 and tokens.ndim == 1 and tokens.size > 0 and tokens.max() <= 4
    return records


@SETTINGS
@given(text=st.text(FASTA_ALPHABET, max_size=300))
def test_fasta_like_text(tmp_path, text):
    path = tmp_path / "in.fa"
    path.write_text(text, encoding="utf-8")
    outcome(str(path))


@SETTINGS
@given(data=st.binary(max_size=300), compress=st.booleans(), suffix=st.sampled_from([".fa", ".npy", ".txt", ""]))
def test_arbitrary_bytes(tmp_path, data, compress, suffix):
    path = tmp_path / f"in{suffix}{'.gz' if compress else ''}"
    path.write_bytes(gzip.compress(data) if compress else data)
    outcome(str(path))


@SETTINGS
@given(argument=st.text(max_size=400))
def test_command_line_arguments(tmp_path, argument):
    if "\x00" in argument or "/" in argument:
        return  # never a literal sequence, and could name a real file on this machine
    outcome(argument)


def _valid_npy(kind: int) -> bytes:
    buffer = io.BytesIO()
    if kind == 0:
        np.save(buffer, np.array([0, 1, 2, 3, 4, 1], dtype=np.int16))
    else:
        rows = np.empty((2, 2), dtype=object)
        rows[0, 0], rows[0, 1] = np.array([[0, 0], [1, 1], [3, 0]], dtype=np.int16), "a"
        rows[1, 0], rows[1, 1] = np.array([[2, 0], [2, 0]], dtype=np.int16), "b"
        np.save(buffer, rows, allow_pickle=True)
    return buffer.getvalue()


@SETTINGS
@given(kind=st.integers(0, 1), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 10_000))
def test_damaged_npy_files(tmp_path, kind, edits, cut):
    data = bytearray(_valid_npy(kind))
    for at, value in edits:
        data[at % len(data)] = value
    path = tmp_path / "in.npy"
    path.write_bytes(bytes(data[: max(cut, 8)] if cut < len(data) else data))
    outcome(str(path))
