"""Convert training data into a compact, pickle-free dataset and load it back.

A dataset is one ``.npz`` holding every transcript of a set (a chromosome,
say) end to end:

- ``tokens``: uint8, all transcripts concatenated (A=0, T=1, C=2, G=3, N=4)
- ``offsets``: int64, ``n + 1`` boundaries into ``tokens``
- ``tis``: int64, positions of annotated TISs as indices into ``tokens``
- ``ids``: unicode transcript ids

Sources: the original tool's per-chromosome ``.npy(.gz)`` files (pickled object
arrays, rebuilt without running pickled code), or
a FASTA with the TIS given by GENCODE-style ``CDS:start-end`` header fields or by
a tab-separated file of ``transcript_id<TAB>position`` (1-based) lines.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tis_transformer.predictor.input_files import data_name, open_binary
from tis_transformer.predictor.npy import load_npy
from tis_transformer.predictor.read import InputError

log = logging.getLogger("tis_transformer")

_CDS_FIELD = re.compile(r"(?:^|\|)CDS:(\d+)-(\d+)(?:\||$)")


@dataclass
class Dataset:
    """Transcripts with their annotated TISs, stored end to end."""

    ids: np.ndarray
    tokens: np.ndarray
    offsets: np.ndarray
    tis: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Length of every transcript."""
        return np.diff(self.offsets)

    def transcript(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens and 0/1 TIS labels of one transcript."""
        start, stop = self.offsets[index], self.offsets[index + 1]
        labels = np.zeros(stop - start, dtype=np.uint8)
        lo, hi = np.searchsorted(self.tis, [start, stop])
        labels[self.tis[lo:hi] - start] = 1
        return self.tokens[start:stop], labels

    def labels(self) -> np.ndarray:
        """0/1 TIS labels over all concatenated positions."""
        out = np.zeros(self.tokens.size, dtype=np.uint8)
        out[self.tis] = 1
        return out


def from_arrays(ids: list, tokens: list, labels: list) -> Dataset:
    """Build a dataset from per-transcript token and 0/1 label arrays."""
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(tokens).astype(np.uint8) if tokens else np.zeros(0, np.uint8)
    flat_labels = np.concatenate(labels) if labels else np.zeros(0)
    return Dataset(
        ids=np.array(ids, dtype=str),
        tokens=flat,
        offsets=offsets,
        tis=np.flatnonzero(flat_labels).astype(np.int64),
    )


def read_original(path: str | Path) -> Dataset:
    """Read one of the original tool's annotated ``.npy`` / ``.npy.gz`` chromosome files.

    Each row is ``[(length, 2) integer array of token and 0/1 TIS label, transcript id]``. The pickled rows are
    rebuilt without running pickled code (``tis_transformer.predictor.npy.load_npy``): a file handed to
    ``prepare`` or ``evaluate`` may come from anywhere. A one-line ``InputError`` names what does not fit.
    """
    path = Path(path)
    rows = load_npy(path)
    if rows.dtype != object or rows.ndim not in (1, 2) or not len(rows):
        raise InputError(f"{path}: expected the original tool's annotated data, rows of "
                         f"[(length, 2) tokens and TIS labels, transcript id]")
    ids, tokens, labels = [], [], []
    for index, row in enumerate(rows, start=1):
        row = list(row) if isinstance(row, (list, tuple, np.ndarray)) else []
        if len(row) >= 2 and isinstance(row[0], str) and isinstance(row[1], np.ndarray):
            raise InputError(f"{path}: a results file (rows of ['>id', tokens, probabilities]) holds no TIS "
                             f"labels; give the annotated data file")
        pairs = row[0] if row and isinstance(row[0], np.ndarray) else None
        if (len(row) < 2 or pairs is None or pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.dtype.kind not in "iu"
                or not isinstance(row[1], str)):
            raise InputError(f"{path}: row {index} is not [(length, 2) tokens and TIS labels, transcript id]")
        if pairs.size and (pairs[:, 0].min() < 0 or pairs[:, 0].max() > 4 or not np.isin(pairs[:, 1], (0, 1)).all()):
            raise InputError(f"{path}: row {index} ({row[1]}): tokens must be 0-4 and TIS labels 0 or 1")
        ids.append(row[1])
        tokens.append(pairs[:, 0])
        labels.append(pairs[:, 1])
    return from_arrays(ids, tokens, labels)


def read_fasta(path: str | Path, tis_table: str | Path | None = None) -> Dataset:
    """Read transcripts from FASTA with TISs from ``CDS:a-b`` headers or a TSV.

    Parameters
    ----------
    path : str or Path
        FASTA, optionally gzipped.  Without ``tis_table`` each header may
        carry a GENCODE-style ``|CDS:61-1041|`` field; the TIS is its start.
    tis_table : str or Path, optional
        Tab-separated ``transcript_id<TAB>position`` lines (1-based, several
        lines per transcript allowed; gzipped or not); transcripts absent
        from it have none. The headers' ``CDS:`` fields are then not read.

    Raises
    ------
    InputError
        One line naming the file, line or record: a file that is not FASTA
        text, an empty record, an invalid letter, a repeated id, a TIS
        outside its transcript, a CDS that ends before it starts, a table
        none of whose ids is in the FASTA.
    """
    from tis_transformer.predictor.read import fasta_records

    table = _read_tis_table(tis_table) if tis_table is not None else {}
    ids, tokens, labels, seen, cds_headers = [], [], [], set(), 0
    for name, codes in fasta_records(Path(path)):
        transcript_id = name.split("|")[0]
        if transcript_id in seen:
            raise InputError(f"{path}: transcript {transcript_id!r} appears twice")
        seen.add(transcript_id)
        label = np.zeros(codes.size, dtype=np.uint8)
        match = _CDS_FIELD.search(name)
        cds_headers += match is not None
        if tis_table is not None:
            starts = table.get(transcript_id, [])
        else:
            if match and int(match.group(2)) < int(match.group(1)):
                raise InputError(f"{path}: {transcript_id}: CDS:{match.group(1)}-{match.group(2)} ends before "
                                 "it starts")
            starts = [int(match.group(1))] if match else []
        for start in starts:
            if not 1 <= start <= codes.size:
                raise InputError(f"{transcript_id}: TIS position {start} outside 1..{codes.size}")
            label[start - 1] = 1
        ids.append(transcript_id)
        tokens.append(codes)
        labels.append(label)
    if tis_table is not None:
        _check_table_matches(table, seen, tis_table, path)
        if cds_headers:
            log.warning("%s: the TISs come from %s; the CDS: fields of %d headers are not read", path, tis_table,
                        cds_headers)
    return from_arrays(ids, tokens, labels)


def _check_table_matches(table: dict, ids: set, tis_table, path) -> None:
    """No id of the table in the FASTA is an error (most often version suffixes: ENST1.2 against ENST1)."""
    if not table:
        raise InputError(f"{tis_table}: no 'transcript_id<TAB>position' lines")
    unmatched = sorted(set(table) - ids)
    if len(unmatched) == len(table):
        bare = {i.rsplit(".", 1)[0]: i for i in ids}
        near = next(((t, bare[t.rsplit(".", 1)[0]]) for t in unmatched if t.rsplit(".", 1)[0] in bare), None)
        hint = f" (they differ only in version suffixes: {near[0]} against {near[1]})" if near else ""
        example = next(iter(sorted(ids)), "none")
        raise InputError(f"{tis_table}: none of its {len(table)} transcript ids is in {path} (table: "
                         f"{unmatched[0]}, FASTA: {example}){hint}")
    if unmatched:
        log.warning("%s: %d of its %d transcript ids are not in %s (first: %s)", tis_table, len(unmatched),
                    len(table), path, unmatched[0])


def _read_tis_table(path: str | Path) -> dict[str, list[int]]:
    table: dict[str, list[int]] = {}
    try:
        with io.TextIOWrapper(open_binary(Path(path)), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text table of 'transcript_id<TAB>position' lines") from None
    for line_no, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[1].strip().isdigit():
            raise InputError(f"{path}:{line_no}: expected 'transcript_id<TAB>position'")
        table.setdefault(fields[0].strip(), []).append(int(fields[1]))
    return table


def save_dataset(dataset: Dataset, path: str | Path) -> None:
    """Write a dataset as a compressed, pickle-free ``.npz``, whole or not at all."""
    from tis_transformer.predictor.output_files import open_output

    with open_output(Path(path), binary=True) as handle:
        np.savez_compressed(handle, ids=dataset.ids, tokens=dataset.tokens, offsets=dataset.offsets, tis=dataset.tis)


def load_dataset(path: str | Path) -> Dataset:
    """Load a dataset from a prepared ``.npz`` or an original ``.npy(.gz)`` file."""
    path = Path(path)
    if path.name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            return Dataset(data["ids"], data["tokens"], data["offsets"], data["tis"])
    if path.name.endswith((".npy", ".npy.gz")):
        return read_original(path)
    raise InputError(f"{path}: expected a prepared .npz or an original .npy/.npy.gz file")


def concatenate(datasets: list) -> Dataset:
    """Join datasets end to end."""
    shifts = np.cumsum([0] + [d.tokens.size for d in datasets[:-1]])
    offsets = [datasets[0].offsets] + [d.offsets[1:] + s for d, s in zip(datasets[1:], shifts[1:])]
    return Dataset(
        ids=np.concatenate([d.ids for d in datasets]),
        tokens=np.concatenate([d.tokens for d in datasets]),
        offsets=np.concatenate(offsets),
        tis=np.concatenate([d.tis + s for d, s in zip(datasets, shifts)]),
    )


def check_distinct_names(files: list) -> None:
    """Refuse two data files of one name (``chr1.npz`` and ``chr1.npy.gz``, or the same name in two folders):
    metrics, predictions and model cards are keyed by that name, so one would silently replace the other."""
    seen: dict[str, Path] = {}
    for path in map(Path, files):
        other = seen.setdefault(data_name(path), path)
        if other != path:
            raise InputError(f"{other} and {path}: two data files named {data_name(path)!r}; results are kept by "
                             "that name, so rename one")
