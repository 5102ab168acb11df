"""Boosted trees over the reading-frame features, scored at ATGs: a second view the feature head is blended with.

A multilayer perceptron and an ensemble of decision trees fitted to the same
features err differently, and the average of their logits ranks ATGs better
than either.  The trees are fitted with LightGBM (``train`` extra) and kept as
small ONNX models (``ai.onnx.ml`` TreeEnsembleRegressor) that the lean
predictor runs with onnxruntime alone.  Their logit reaches the network as one
more input-feature column after the reading-frame ones, zero wherever no ATG
starts; ``TISNetwork`` blends it with its feature head there.

Trees come in one stage or two.  In two, a first stage scores every ATG, and
the second reads, besides the features, how that score compares with the
other ATGs of the same transcript (``pooled_scores``): whether the transcript
holds a better start, or none that looks coding at all.  The first stage is
cross-fitted: the second learns from first-stage scores of transcripts that
stage did not see, as it will meet them in new data.

Trees may also read, after the features, the ``ISOFORM_NAMES`` columns of
``tis_transformer.predictor.isoforms``: how each ATG's ORF compares with the same start
in the input's other transcripts; a second stage then also reads the
``STAGE_ONE_NAMES`` columns, first-stage scores of the other transcripts
(``score_isoform_index`` computes them over a whole input).  Callers hand
those columns in; a transcript scored without them is scored as if alone in
its input.
"""

from __future__ import annotations

import numpy as np

from tis_transformer.predictor.features import IS_ATG_COLUMN
from tis_transformer.predictor.isoforms import ISOFORM_NAMES, STAGE_ONE_NAMES, IsoformIndex, _chunks

TREE_COLUMN_NAME = "tree_logit"
POOLED_NAMES = ("stage_one_probability", "transcript_best_probability", "probability_vs_best",
                "log_atgs_above_0.3", "other_atgs_probability_sum")
_ML_OPSET = 3
_COUNTED_ABOVE = 0.3


def pooled_scores(logits: np.ndarray, transcripts: np.ndarray) -> np.ndarray:
    """How each ATG's first-stage score compares with the other ATGs of its transcript.

    Parameters
    ----------
    logits : np.ndarray
        ``(rows,)`` first-stage logits of ATG rows.
    transcripts : np.ndarray
        ``(rows,)`` transcript of each row (any labels).

    Returns
    -------
    np.ndarray
        ``(rows, 5)`` float32, the ``POOLED_NAMES``: the row's probability,
        its transcript's best, the difference, log(1 + ATGs above 0.3) and the
        sum over the transcript's other ATGs.
    """
    probability = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
    _, group = np.unique(transcripts, return_inverse=True)
    count = int(group.max()) + 1 if len(group) else 0
    best = np.zeros(count)
    np.maximum.at(best, group, probability)
    above = np.bincount(group, probability > _COUNTED_ABOVE, minlength=count)
    total = np.bincount(group, probability, minlength=count)
    return np.stack([probability, best[group], probability - best[group], np.log1p(above[group]),
                     total[group] - probability], axis=1).astype(np.float32)


def _session(model: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class TreeScorer:
    """Runs serialized trees (``fit_trees`` or ``fit_two_stage_trees``) with onnxruntime at ATGs.

    Parameters
    ----------
    model : bytes
        The trees, or the second stage of two.
    stage_one : bytes, optional
        The first stage of two.
    feature_columns : int, optional
        Reading-frame feature columns the trees read; any further columns of
        their (first-stage) input are the ``ISOFORM_NAMES`` ones.  None: the
        trees read reading-frame features only.
    """

    def __init__(self, model: bytes, stage_one: bytes | None = None, feature_columns: int | None = None):
        self.model = bytes(model)
        self.stage_one = bytes(stage_one) if stage_one else None
        self.session = _session(self.model)
        self.first = _session(self.stage_one) if self.stage_one else None
        width = int(self.session.get_inputs()[0].shape[1])
        first_width = int(self.first.get_inputs()[0].shape[1]) if self.first else width
        self.columns = first_width if feature_columns is None else int(feature_columns)
        self.isoform_columns = first_width - self.columns
        # second-stage columns past the first stage's and the pooled ones: first-stage scores of other transcripts
        self.stage_one_columns = width - first_width - len(POOLED_NAMES) if self.first else 0
        if self.stage_one_columns not in (0, len(STAGE_ONE_NAMES) if self.isoform_columns else 0):
            raise ValueError(f"the two tree stages read {first_width} and {width} columns")
        if self.isoform_columns not in (0, len(ISOFORM_NAMES)):
            raise ValueError(f"trees reading {first_width} columns do not fit {self.columns} features")

    @property
    def isoform_names(self) -> list:
        """Names of the isoform columns the trees read, in order (empty when they read none)."""
        if not self.isoform_columns:
            return []
        return list(ISOFORM_NAMES) + (list(STAGE_ONE_NAMES) if self.stage_one_columns else [])

    def __getstate__(self) -> dict:  # onnxruntime sessions do not pickle (data-loader workers)
        return {"model": self.model, "stage_one": self.stage_one, "feature_columns": self.columns}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"], state["stage_one"], state["feature_columns"])

    def _first_rows(self, flat: np.ndarray, atg: np.ndarray, alike: np.ndarray | None) -> np.ndarray:
        rows = np.ascontiguousarray(flat[atg, : self.columns], dtype=np.float32)
        if not self.isoform_columns:
            return rows
        if alike is None:  # scored alone
            return np.concatenate([rows, np.zeros((len(atg), self.isoform_columns), dtype=np.float32)], axis=1)
        return np.concatenate([rows, alike[atg, : self.isoform_columns].astype(np.float32)], axis=1)

    def stage_one_logits(self, features: np.ndarray, isoform_columns: np.ndarray | None = None) -> np.ndarray:
        """First-stage logits at the ATGs of one transcript's ``(length, columns)`` features, in position order."""
        atg = np.flatnonzero(features[:, IS_ATG_COLUMN] > 0)
        if self.first is None or not len(atg):
            return np.zeros(len(atg), dtype=np.float32)
        return self.first.run(None, {"features": self._first_rows(features, atg, isoform_columns)})[0][:, 0]

    def stage_one_logits_many(self, features: list, isoform_columns: list) -> np.ndarray:
        """``stage_one_logits`` of many transcripts, concatenated in order, in one run of the trees.

        Trees score each row on its own, so one run over all rows gives what one run per transcript does.
        """
        rows = []
        for f, alike in zip(features, isoform_columns):
            atg = np.flatnonzero(f[:, IS_ATG_COLUMN] > 0)
            if len(atg):
                rows.append(self._first_rows(f, atg, alike))
        if self.first is None or not rows:
            return np.zeros(sum(len(r) for r in rows), dtype=np.float32)
        return self.first.run(None, {"features": np.concatenate(rows)})[0][:, 0]

    def __call__(self, features: np.ndarray, isoform_columns: np.ndarray | None = None) -> np.ndarray:
        """Tree logits ``(..., length)`` for the ``(..., length, columns or more)`` features of transcripts.

        Every leading index is one transcript (a 2-D array is one transcript);
        0 where no ATG starts.  ``isoform_columns`` (``(..., length, width)``,
        from ``IsoformIndex.columns``) are read by trees fitted with them;
        None scores each transcript as if alone in its input (zeros).
        """
        rows_per_transcript = features.shape[-2] if features.ndim >= 2 else 1
        flat = features.reshape(-1, features.shape[-1])
        alike = None if isoform_columns is None else isoform_columns.reshape(len(flat), -1)
        if alike is not None and self.isoform_columns and alike.shape[1] < len(self.isoform_names):
            raise ValueError("these trees read first-stage scores of the other transcripts: "
                             "the isoform index has none (score_isoform_index)")
        out = np.zeros(len(flat), dtype=np.float32)
        atg = np.flatnonzero(flat[:, IS_ATG_COLUMN] > 0)
        if len(atg):
            rows = self._first_rows(flat, atg, alike)
            if self.first is not None:
                first = self.first.run(None, {"features": rows})[0][:, 0]
                parts = [rows, pooled_scores(first, atg // rows_per_transcript)]
                if self.stage_one_columns:
                    parts.append(np.zeros((len(atg), self.stage_one_columns), dtype=np.float32) if alike is None
                                 else alike[atg, self.isoform_columns:].astype(np.float32))
                rows = np.concatenate(parts, axis=1)
            out[atg] = self.session.run(None, {"features": rows})[0][:, 0]
        return out.reshape(features.shape[:-1])


def score_isoform_index(transcripts, scorer: TreeScorer | None, features_of,
                        features_of_many=None) -> IsoformIndex | None:
    """The isoform index of an input for ``scorer``'s trees, with first-stage scores when they read them.

    Parameters
    ----------
    transcripts : sequence or callable
        The input's token arrays: a sequence, or a function returning a new
        iterator over them (read twice when first-stage scores are needed).
    scorer : TreeScorer, optional
        The trees; None, or trees reading no isoform columns, give None.
    features_of : callable
        Reading-frame features of one transcript (``orf_features`` with the
        model's hexamer table and feature set).
    features_of_many : callable, optional
        The same for a list of transcripts (``orf_features_many``): the
        first-stage pass then goes in chunks, one run of the trees each.
    """
    if scorer is None or not scorer.isoform_columns:
        return None
    if not callable(transcripts) and iter(transcripts) is transcripts:
        raise TypeError("the isoform index reads its input twice: give a sequence, or a function returning an "
                        "iterator, not a one-pass iterator")
    again = transcripts if callable(transcripts) else (lambda: iter(transcripts))
    index = IsoformIndex.of(again())
    if scorer.stage_one_columns:
        if features_of_many is not None:
            logits = [scorer.stage_one_logits_many(features_of_many(chunk), index.columns_many(chunk))
                      for chunk in _chunks(again())]
        else:
            logits = [scorer.stage_one_logits(features_of(t), index.columns(t)) for t in again()]
        index.set_stage_one(1.0 / (1.0 + np.exp(-np.concatenate(logits + [np.zeros(0)]).astype(np.float64))))
    return index


def with_tree_column(features: np.ndarray, scorer: TreeScorer | None,
                     isoform_columns: np.ndarray | None = None) -> np.ndarray:
    """``features`` with the trees' logit appended as a last column (unchanged when ``scorer`` is None)."""
    if scorer is None:
        return features
    return np.concatenate([features, scorer(features, isoform_columns)[..., None]], axis=-1)
