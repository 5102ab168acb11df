import numpy as np
import pytest

from tis_transformer.features import FEATURE_NAMES, orf_features
from tis_transformer.tokens import encode

COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


def features_of(sequence: str) -> np.ndarray:
    return orf_features(np.asarray(encode(sequence)))


# 0-based: ATG at 2 (7 codons to TAA at 23), ATG at 7 (ATG CCC TAG: 2 codons),
# ATG at 17 (same frame as 2, downstream of it: not first in its segment)
SEQUENCE = "CCATGAAATGCCCTAGGATGTTTTAA"


def test_hand_worked_orfs():
    f = features_of(SEQUENCE)
    assert f.shape == (len(SEQUENCE), len(FEATURE_NAMES)) and f.dtype == np.float32
    assert np.flatnonzero(f[:, COLUMN["is_atg"]]).tolist() == [2, 7, 17]
    assert np.flatnonzero(f[:, COLUMN["first_atg_in_frame_segment"]]).tolist() == [2, 7]
    assert np.flatnonzero(f[:, COLUMN["starts_longest_orf"]]).tolist() == [2]
    codons = np.expm1(f[:, COLUMN["log_orf_codons"]] * 7.0)
    assert codons[2] == pytest.approx(7) and codons[7] == pytest.approx(2) and codons[17] == pytest.approx(2)
    assert codons[3] == pytest.approx(0)  # TGA at 3 is itself a stop
    assert f[2, COLUMN["orf_vs_longest"]] == pytest.approx(1.0)
    assert f[7, COLUMN["orf_vs_longest"]] == pytest.approx(1 + (np.log1p(2) - np.log1p(7)) / 5, abs=1e-6)
    assert np.allclose(f[:, COLUMN["log_longest_orf_codons"]], np.log1p(7) / 7.0)


def test_open_reading_frame_without_stop():
    f = features_of("ATGAAAAAAAAA")
    assert f[0, COLUMN["stop_found"]] == 0
    assert np.expm1(f[0, COLUMN["log_orf_codons"]] * 7.0) == pytest.approx(4)
    # no complete ATG ORF: nothing is the longest, nothing compared with it
    assert f[:, COLUMN["starts_longest_orf"]].sum() == 0 and f[:, COLUMN["orf_vs_longest"]].sum() == 0


def test_unknown_nucleotides_break_codons_and_tiny_inputs():
    f = features_of("ANGTAA")
    assert f[:, COLUMN["is_atg"]].sum() == 0
    assert orf_features(np.zeros(0, dtype=np.int64)).shape == (0, len(FEATURE_NAMES))
    assert features_of("AT").shape == (2, len(FEATURE_NAMES))


def test_features_are_bounded_and_informative_on_real_transcripts(chry):
    at_tis = []
    for i in range(0, len(chry), 4):
        tokens, labels = chry.transcript(i)
        f = orf_features(tokens)
        assert np.isfinite(f).all() and f.min() >= 0 and f.max() <= 1.6
        at_tis.append(f[labels > 0])
    at_tis = np.concatenate(at_tis)
    # most annotated TISs are ATGs starting the transcript's longest complete ORF
    assert len(at_tis) > 20
    assert at_tis[:, COLUMN["is_atg"]].mean() > 0.95
    assert at_tis[:, COLUMN["starts_longest_orf"]].mean() > 0.5
