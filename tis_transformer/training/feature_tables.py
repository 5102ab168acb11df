"""A model's feature tables, fitted on its training transcripts (``train`` extra)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tis_transformer.predictor.features import FeatureTables
from tis_transformer.training.hexamers import fit_hexamer_log_odds
from tis_transformer.training.start_context import fit_start_context_log_odds

__all__ = ["fit_feature_tables"]


def fit_feature_tables(transcripts: Sequence[tuple[np.ndarray, np.ndarray]]) -> FeatureTables:
    """The hexamer and start-context tables of ``(tokens, labels)`` training transcripts.

    ``transcripts`` is read twice, once per table: a sequence, or a dataset's
    ``transcript`` pairs gathered in a list.
    """
    return FeatureTables(fit_hexamer_log_odds(transcripts), fit_start_context_log_odds(transcripts))
