"""Several TIS models used as one: the mean of their per-nucleotide probabilities.

The K models of a cross-validation (or models trained with other seeds)
each see the input through their own inputs: their own feature set,
hexamer table and trees, and their own isoform index. An ``Ensemble`` runs
every member on the same transcripts, each as it would run alone, and
averages what they output.

Why the mean of probabilities rather than of logits: the exported models
output probabilities, and far from a start codon these are around 1e-8 in
float32, where going back to logits would amplify rounding; the mean of
probabilities is the usual deep-ensemble average, stays a probability that
0.5 thresholds as before, and lets a member that is confident for its own
reasons move the average by at most 1/K (a logit mean lets one member's
extreme logit outvote the rest).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from tis_transformer.predictor.read import InputError

__all__ = ["Ensemble", "EnsembleIsoforms", "open_models"]


class EnsembleIsoforms:
    """The isoform index of each member of an ensemble (None for a member that reads none).

    ``len`` and ``transcripts`` describe the input as the first member
    that reads isoforms sees it: every member indexes the same starts.
    """

    def __init__(self, indexes: list):
        self.indexes = indexes
        first = next((index for index in indexes if index is not None), None)
        self.transcripts = first.transcripts if first is not None else 0
        self._starts = len(first) if first is not None else 0

    def __len__(self) -> int:
        return self._starts


class Ensemble:
    """Models whose per-nucleotide probabilities are averaged.

    Parameters
    ----------
    members : list of Predictor
        The loaded models, two or more; each runs on its own inputs.
    """

    def __init__(self, members: list):
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two models")
        self.members = list(members)
        self.device = members[0].device

    @property
    def label(self) -> str:
        """What output headers name: every member, in the order given; by folder too where names repeat."""
        names = [m.label for m in self.members]
        if len(set(names)) < len(names):  # crossval's fold_1/model.onnx, fold_2/model.onnx, ...
            names = [f"{m.path.parent.name}/{m.label}" for m in self.members]
        return f"mean of {len(self.members)} models: " + ", ".join(names)

    @property
    def reads_isoforms(self) -> bool:
        """Whether any member compares each transcript's starts with the other transcripts of its input."""
        return any(m.reads_isoforms for m in self.members)

    def isoform_index(self, transcripts) -> EnsembleIsoforms | None:
        """Each member's isoform index of the input (see ``Predictor.isoform_index``); None when none reads any.

        A sequence or a function returning a new iterator: every member reads
        the transcripts (twice) for its own index.
        """
        if not self.reads_isoforms:
            return None
        if not callable(transcripts):
            transcripts = list(transcripts)
        return EnsembleIsoforms([m.isoform_index(transcripts) for m in self.members])

    def predict(self, tokens: list[np.ndarray], isoforms: EnsembleIsoforms | None = None) -> list[np.ndarray]:
        """The mean of the members' probabilities for every transcript, input order kept (float32)."""
        indexes = isoforms.indexes if isoforms is not None else [None] * len(self.members)
        total: list | None = None
        for member, index in zip(self.members, indexes):
            # float64 sums: the mean of identical members is then exactly their value
            scores = member.predict(tokens, index)
            total = [s.astype(np.float64) for s in scores] if total is None else [t + s for t, s in zip(total, scores)]
        return [(t / len(self.members)).astype(np.float32) for t in total]

    def predict_records(self, records: Iterable[tuple[str, np.ndarray]], isoforms: EnsembleIsoforms | None = None,
                        chunk_nt: int = 1_000_000) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Stream ``(id, tokens, probabilities)``, as ``Predictor.predict_records`` does."""
        from tis_transformer.predictor.runner import predict_in_chunks

        return predict_in_chunks(self.predict, records, isoforms, chunk_nt)


def open_models(models: str | Sequence[str] | None, device: str = "auto", threads: int = 0,
                max_tokens: int | None = None):
    """One model, or an ensemble of several, ready to predict.

    Parameters
    ----------
    models : str, list of str, or None
        A shipped model name or ``.onnx`` path; a list of them for an
        ensemble (a list of one is that model); None or an empty list for
        the default shipped model.
    device, threads, max_tokens
        As for ``Predictor``; every member gets the same.

    Returns
    -------
    Predictor or Ensemble
        Both offer ``label``, ``members``, ``device``, ``reads_isoforms``,
        ``isoform_index``, ``predict`` and ``predict_records``.
    """
    from tis_transformer.predictor.runner import Predictor

    if models is None or isinstance(models, (str, os.PathLike)):
        return Predictor(None if models is None else str(models), device=device, threads=threads,
                         max_tokens=max_tokens)
    models = list(models)
    if not all(isinstance(m, (str, os.PathLike)) for m in models):
        raise InputError("model: expected a shipped model name, an .onnx path, or a list of them")
    loaded = [Predictor(str(m), device=device, threads=threads, max_tokens=max_tokens) for m in models] or \
        [Predictor(None, device=device, threads=threads, max_tokens=max_tokens)]
    return loaded[0] if len(loaded) == 1 else Ensemble(loaded)
