"""Predict from Python: sequences in, per-nucleotide probabilities and site tables out.

``predict`` does what ``tis-transformer impute`` does, including the
comparison of each start codon with the same start in the other sequences
given (isoforms), and returns Python objects instead of writing files.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from tis_transformer.predictor.orfs import Site, site_table
from tis_transformer.predictor.read import InputError, read_records
from tis_transformer.predictor.tokens import InvalidSequenceError, decode, encode

__all__ = ["Prediction", "predict"]


@dataclass
class Prediction:
    """The prediction for one sequence.

    Attributes
    ----------
    id : str
        The record's id (``sequence_1``, ``sequence_2``, ... for bare strings).
    sequence : str
        The sequence as read (uppercase DNA letters, N for ambiguity codes).
    probabilities : numpy.ndarray
        ``float32``, the probability that translation starts at each nucleotide.
    sites : list of Site
        The reported start codons and their ORFs, best first (see
        ``tis_transformer.predictor.orfs.Site`` for the fields).
    """

    id: str
    sequence: str
    probabilities: np.ndarray = field(repr=False)
    sites: list[Site]


def predict(sequences: str | os.PathLike | Iterable, model: str | None = None, *, alone: bool = False,
            threshold: float | None = None, top_k: int | None = None, device: str = "auto", threads: int = 0,
            predictor=None) -> list[Prediction]:
    """Predict translation initiation sites on sequences.

    Parameters
    ----------
    sequences : str, path or iterable
        A file as ``impute`` reads it (FASTA, gzipped or not, or an
        original-format ``.npy``: a ``pathlib.Path``, or a string naming an
        existing file); one sequence (``str`` or Biopython ``Seq``) or
        ``SeqRecord``; a ``dict`` of id to sequence; or an iterable of
        sequences, ``(id, sequence)`` pairs and/or records with ``id`` and
        ``seq`` (Biopython's ``SeqRecord``). DNA or RNA letters in any case; IUPAC
        ambiguity codes read as N.
    model : str or list of str, optional
        A shipped model name or an ``.onnx`` file (default: the shipped
        human model); a list of them for an ensemble, whose probabilities
        are the mean of the models' (``tis_transformer.predictor.ensemble``).
        Ignored when ``predictor`` is given.
    alone : bool
        Score each sequence as if it were the only one. By default each start
        codon is compared with the same start in the other sequences given,
        as ``impute`` does: give all isoforms of a gene together.
    threshold, top_k : float or int, optional
        Which start codons the ``sites`` list holds: probability at least
        ``threshold`` (default 0.5), or the ``top_k`` best per sequence.
    device : {"auto", "cpu", "cuda"}
        Where onnxruntime runs the model (auto: CUDA when onnxruntime-gpu
        sees a GPU, else the CPU), as ``impute --device``.
    threads : int
        CPU threads (0: all cores).
    predictor : Predictor or Ensemble, optional
        A loaded model (``tis_transformer.Predictor``) or ensemble
        (``tis_transformer.predictor.ensemble.open_models``), to avoid
        loading it again across calls.

    Returns
    -------
    list of Prediction
        One per sequence, in input order.

    Raises
    ------
    tis_transformer.predictor.read.InputError
        On an empty input, an invalid character, an empty sequence, a
        repeated id or an item that is neither a sequence nor a pair.
    ValueError
        On an option out of range: ``threshold`` outside [0, 1], ``top_k``
        below 1, both given, an unknown ``device`` or negative ``threads``.

    Examples
    --------
    >>> from tis_transformer import predict
    >>> (result,) = predict("GCCACCATGGCGTCTTAA", top_k=1)
    >>> result.sites[0].start_codon, result.sites[0].protein
    ('ATG', 'MAS')
    """
    _check_options(threshold, top_k, device, threads)
    records = _records(sequences)
    if predictor is None:
        from tis_transformer.predictor.ensemble import open_models

        predictor = open_models(model, device=device, threads=threads)
    tokens = [t for _, t in records]
    isoforms = None if alone or not predictor.reads_isoforms else predictor.isoform_index(tokens)
    probabilities = predictor.predict(tokens, isoforms)
    return [Prediction(name, decode(t), p, site_table(name, t, p, threshold=threshold, top_k=top_k))
            for (name, t), p in zip(records, probabilities)]


def _check_options(threshold, top_k, device: str, threads: int) -> None:
    # the command line refuses these in its parser; Python callers get the same rules
    if threshold is not None and top_k is not None:
        raise ValueError("give threshold or top_k, not both")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                                  or not 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be a number from 0 to 1, not {threshold!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be a whole number of at least 1, not {top_k!r}")
    if str(device).lower() not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', not {device!r}")
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 0:
        raise ValueError(f"threads must be 0 (all cores) or more, not {threads!r}")


def _is_seq_record(item) -> bool:
    """A Biopython SeqRecord, or anything else with an id and a sequence."""
    return hasattr(item, "id") and hasattr(item, "seq")


def _is_seq(item) -> bool:
    """A Biopython ``Seq`` or ``MutableSeq``: one sequence, though it iterates letter by letter."""
    return type(item).__name__ in ("Seq", "MutableSeq") and type(item).__module__.startswith("Bio.")


def _records(sequences) -> list[tuple[str, np.ndarray]]:
    if isinstance(sequences, os.PathLike):
        if not os.path.isfile(sequences):
            raise InputError(f"{os.fspath(sequences)}: no such file")
        return list(read_records(os.fspath(sequences)))
    if isinstance(sequences, str) and os.path.isfile(sequences):  # a folder named ACGT is no input
        return list(read_records(sequences))
    one_string = isinstance(sequences, str)
    pair_given_bare = (isinstance(sequences, tuple) and len(sequences) == 2
                       and all(isinstance(part, str) for part in sequences))
    if isinstance(sequences, dict):
        sequences = list(sequences.items())  # {id: sequence}
    elif isinstance(sequences, (str, bytes)) or _is_seq_record(sequences) or _is_seq(sequences):
        sequences = [sequences]  # one sequence; a pair is given inside a list: [(id, sequence)]
    try:
        return _encoded(sequences)
    except InputError as error:
        if one_string:  # most likely a file name with a typo
            detail = str(error).removeprefix("record 'sequence_1': ")
            raise InputError(f"{sequences[0][:60]!r}: no such file, and not a nucleotide sequence ({detail})") from None
        if pair_given_bare:
            raise InputError(f"{error}; an (id, sequence) pair goes inside a list: [(id, sequence)]") from None
        raise


def _encoded(sequences: Iterable) -> list[tuple[str, np.ndarray]]:
    records, seen = [], set()
    for index, item in enumerate(sequences, start=1):
        if isinstance(item, tuple) and len(item) != 2:
            raise InputError(f"record {index}: expected a sequence or an (id, sequence) pair, not {len(item)} values")
        if _is_seq_record(item):
            item = (str(item.id), str(item.seq))
        elif _is_seq(item):
            item = str(item)
        elif isinstance(item, tuple) and _is_seq(item[1]):
            item = (item[0], str(item[1]))
        name, sequence = (item if isinstance(item, tuple) else (f"sequence_{index}", item))
        if isinstance(sequence, bytes):
            sequence = sequence.decode("ascii", errors="replace")
        if not isinstance(name, str) or not isinstance(sequence, str):
            raise InputError(f"record {index}: expected a sequence or an (id, sequence) pair of strings")
        if name in seen:
            raise InputError(f"record {name!r}: duplicate id")
        seen.add(name)
        if not sequence:
            raise InputError(f"record {name!r}: empty sequence")
        try:
            records.append((name, encode(sequence, f"record {name!r}")))
        except InvalidSequenceError as error:
            raise InputError(str(error)) from None
    if not records:
        raise InputError("no sequences given")
    return records
