"""What a model reads besides its tokens, in one object: the reading-frame feature set and its tables, the
boosted trees, and (per input) the isoform index.

The predictor, training, evaluation, export and the benchmarks all turn sequences into a model's ``features``
input through this object, and the ONNX metadata (``input_features``) is written and read only here.
"""

from __future__ import annotations

import base64
import dataclasses
import zlib
from collections.abc import Callable, Iterable

import numpy as np

from tis_transformer.predictor.batch_features import orf_features_many, padded_features
from tis_transformer.predictor.errors import InputError
from tis_transformer.predictor.features import (FEATURE_NAMES, FEATURE_SET, FEATURE_SETS, HEXAMERS, START_CONTEXT,
                                                START_CONTEXT_SHAPE, FeatureTables, orf_features)
from tis_transformer.predictor.isoforms import IsoformIndex
from tis_transformer.predictor.trees import TREE_COLUMN_NAME, TreeScorer, score_isoform_index, with_tree_column

__all__ = ["ModelInputs"]


class ModelInputs:
    """The inputs a TIS model computes from sequence.

    Parameters
    ----------
    tables : FeatureTables
        The hexamer and start-context tables fitted on the model's training
        transcripts.
    feature_set : str
        A key of ``FEATURE_SETS``.
    trees : TreeScorer, optional
        The boosted trees whose logit is the last input column.
    tree_blend : float, optional
        The trees' share of the logit at ATGs (recorded in the metadata).
    """

    def __init__(self, tables: FeatureTables, feature_set: str = FEATURE_SET, trees: TreeScorer | None = None,
                 tree_blend: float | None = None):
        # a model always stores a hexamer table: zeros where none was fitted
        self.tables = (tables if tables.hexamers is not None
                       else dataclasses.replace(tables, hexamers=np.zeros(HEXAMERS, dtype=np.float32)))
        self.feature_set = feature_set
        self.trees = trees
        self.tree_blend = tree_blend

    @property
    def columns(self) -> int:
        """Reading-frame feature columns (the trees' column comes after them)."""
        return FEATURE_SETS[self.feature_set]

    @property
    def names(self) -> list:
        """Names of every input column, in order."""
        return list(FEATURE_NAMES[: self.columns]) + ([TREE_COLUMN_NAME] if self.trees is not None else [])

    @property
    def reads_isoforms(self) -> bool:
        """Whether the trees compare each start with the same start in the input's other transcripts."""
        return self.trees is not None and self.trees.isoform_columns > 0

    def features(self, tokens: np.ndarray) -> np.ndarray:
        """Reading-frame features of one transcript, ``(length, columns)``, without the trees' column."""
        return orf_features(tokens, self.tables, self.feature_set)

    def features_many(self, tokens: list) -> list:
        """``features`` of many transcripts at once (fast for libraries of short records)."""
        return orf_features_many(tokens, self.tables, self.feature_set)

    def with_trees(self, tokens: np.ndarray, isoform_columns: np.ndarray | None = None) -> np.ndarray:
        """Every input column of one transcript: its features and the trees' logit."""
        return with_tree_column(self.features(tokens), self.trees, isoform_columns)

    def padded(self, tokens: list, length: int, isoforms: IsoformIndex | None = None) -> np.ndarray:
        """Every input column of a batch, ``(batch, length, columns)``, zero past each transcript's end.

        ``isoforms``: the ``isoform_index`` of the whole input, or None to
        score each transcript as if it were alone.
        """
        return padded_features(tokens, length, self.tables, self.feature_set, self.trees, isoforms)

    def isoform_index(self, transcripts: Iterable | Callable) -> IsoformIndex | None:
        """The isoform index of a whole input, or None when the trees read no isoform columns.

        ``transcripts``: the input's token arrays, as a sequence or as a
        function returning a new iterator over them (read twice).
        """
        return score_isoform_index(transcripts, self.trees, self.features, self.features_many)

    def to_metadata(self) -> dict:
        """The ``input_features`` entry of an exported model's metadata."""
        declared = {"set": self.feature_set, "names": self.names,
                    "hexamer_log_odds": [round(float(v), 4) for v in self.tables.hexamers]}
        if self.columns > START_CONTEXT.start:
            table = np.zeros(START_CONTEXT_SHAPE) if self.tables.start_context is None else self.tables.start_context
            declared["start_context_log_odds"] = [[round(float(v), 4) for v in row] for row in table]
        if self.trees is not None:
            declared["tree_blend"] = self.tree_blend
            # zlib shrinks serialized trees about 5-fold: most of their bytes are node ids and repeated mode names
            declared["trees"] = base64.b64encode(zlib.compress(self.trees.model, 9)).decode("ascii")
            if self.trees.stage_one:
                declared["trees_stage_one"] = base64.b64encode(zlib.compress(self.trees.stage_one, 9)).decode("ascii")
            if self.trees.isoform_columns:
                declared["isoform_columns"] = self.trees.isoform_names
        return declared

    @classmethod
    def from_metadata(cls, declared: dict, source: object = "model") -> "ModelInputs":
        """The inputs a model's metadata declares; a one-line ``InputError`` names what does not fit.

        ``source`` names the model in messages.
        """
        table = declared.get("hexamer_log_odds")
        feature_set = declared.get("set")
        columns = FEATURE_SETS.get(feature_set, 0)
        names = list(FEATURE_NAMES[:columns]) + ([TREE_COLUMN_NAME] if "trees" in declared else [])
        if not columns or declared.get("names") != names or not isinstance(table, list) or len(table) != HEXAMERS:
            raise InputError(f"{source}: needs input features {feature_set!r}, "
                             f"this version computes {', '.join(FEATURE_SETS)}")
        context = None
        if columns > START_CONTEXT.start:
            try:
                context = np.asarray(declared["start_context_log_odds"], dtype=np.float32).reshape(START_CONTEXT_SHAPE)
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{source}: its start-context table is missing or not "
                                 f"{START_CONTEXT_SHAPE[0]} x {START_CONTEXT_SHAPE[1]} numbers") from None
        trees = None
        if "trees" in declared:
            try:
                trees = TreeScorer(*(zlib.decompress(base64.b64decode(declared[key], validate=True))
                                     if key in declared else b"" for key in ("trees", "trees_stage_one")),
                                   feature_columns=columns)
            except Exception as error:  # bad base64 or zlib data, or a model onnxruntime cannot load
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise InputError(f"{source}: its trees are not usable ({message})") from None
            if declared.get("isoform_columns", []) != trees.isoform_names:
                raise InputError(f"{source}: its trees read isoform columns {declared.get('isoform_columns', [])}, "
                                 f"this version computes {trees.isoform_names}")
        return cls(FeatureTables(np.asarray(table, dtype=np.float32), context), feature_set, trees,
                   declared.get("tree_blend"))
