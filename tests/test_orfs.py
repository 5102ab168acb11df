import numpy as np
import pytest
from Bio.Seq import Seq

from tis_transformer.predictor.orfs import TABLE_COLUMNS, Orf, Site, find_orf, find_orfs, site_table
from tis_transformer.predictor.tokens import decode, encode

# 1-based: C1 C2 A3 T4 G5 G6 C7 C8 T9 A10 A11 G12 G13
# The ATG at 3 reads ATG GCC TAA: two codons, then the stop ending at 11.
TRANSCRIPT = encode("CCATGGCCTAAGG")


def test_known_orf_with_stop():
    assert find_orf(TRANSCRIPT, 2) == Orf("ATG", 11, 9, 2, True, "MA")


def test_non_atg_start_is_translated_as_read():
    assert find_orf(TRANSCRIPT, 5) == Orf("GCC", 11, 6, 1, True, "A")


def test_no_stop_ends_at_last_complete_codon():
    # CCA TGG CCT AAG, then a lone G.
    assert find_orf(TRANSCRIPT, 0) == Orf("CCA", 12, 12, 4, False, "PWPK")
    # CAT GGC CTA AGG reaches the last nucleotide.
    assert find_orf(TRANSCRIPT, 1) == Orf("CAT", 13, 12, 4, False, "HGLR")


@pytest.mark.parametrize("start, codon", [(11, "GG"), (12, "G")])
def test_site_near_the_end_has_a_truncated_codon(start, codon):
    assert find_orf(TRANSCRIPT, start) == Orf(codon, start, 0, 0, False, "")


def test_n_inside_translates_to_x():
    assert find_orf(encode("ATGNNNGCNTAG"), 0) == Orf("ATG", 12, 12, 3, True, "MXX")


def test_codon_with_n_is_never_a_stop():
    # TNA could be TAA but is not known to be one.
    assert find_orf(encode("ATGTNATAG"), 0) == Orf("ATG", 9, 9, 2, True, "MX")


def test_n_in_the_start_codon():
    assert find_orf(encode("NTGAAATGA"), 0) == Orf("NTG", 9, 9, 2, True, "XK")


def test_stop_at_the_site_itself():
    assert find_orf(encode("TGACC"), 0) == Orf("TGA", 3, 3, 0, True, "")


def test_stop_in_another_frame_is_ignored():
    # ATT AAG CC: the TAA at 3-5 is out of frame; ATT is a start codon, read as M.
    assert find_orf(encode("ATTAAGCC"), 0) == Orf("ATT", 6, 6, 2, False, "MK")


def test_all_three_stops():
    for stop in ("TAA", "TAG", "TGA"):
        assert find_orf(encode("ATGAAA" + stop + "CC"), 0) == Orf("ATG", 9, 9, 2, True, "MK")


def _reference_orf(sequence, start):
    """Codon by codon, the slow and obvious way."""
    protein = []
    position = start
    while position + 3 <= len(sequence):
        codon = sequence[position : position + 3]
        if codon in ("TAA", "TAG", "TGA"):
            return Orf(sequence[start : start + 3], position + 3, position + 3 - start,
                       len(protein), True, "".join(protein))
        start_codon = position == start and sum(a != b for a, b in zip(codon, "ATG")) <= 1
        protein.append("M" if start_codon else "X" if "N" in codon else str(Seq(codon).translate()))
        position += 3
    return Orf(sequence[start : start + 3], position, position - start,
               len(protein), False, "".join(protein))


def test_matches_codon_by_codon_reference():
    rng = np.random.default_rng(7)
    tokens = rng.choice(5, size=301, p=[0.24, 0.24, 0.24, 0.24, 0.04]).astype(np.uint8)
    sequence = decode(tokens)
    starts = np.arange(tokens.size)[::-1]
    assert find_orfs(tokens, starts) == [_reference_orf(sequence, int(s)) for s in starts]


def test_empty_site_list():
    assert find_orfs(TRANSCRIPT, []) == []


@pytest.mark.parametrize("start", [-1, 13])
def test_site_outside_the_transcript(start):
    with pytest.raises(ValueError, match="start sites must lie in 0..12"):
        find_orf(TRANSCRIPT, start)


# ---------------------------------------------------------------- site_table


def probabilities(**at):
    values = np.zeros(TRANSCRIPT.size, dtype=np.float32)
    for position, value in at.items():
        values[int(position[1:]) - 1] = value
    return values


def test_columns():
    assert Site._fields == TABLE_COLUMNS
    assert TABLE_COLUMNS == (
        "transcript_id", "position", "probability", "start_codon", "orf_end",
        "orf_length_nt", "orf_length_aa", "stop_found", "protein",
    )


# Start codons of TRANSCRIPT (1-based): ATG at 3, AAG at 10, AGG at 11; no other position may be a site.
STARTS = [3, 10, 11]


def test_default_threshold_is_half_inclusive():
    rows = site_table("tx", TRANSCRIPT, probabilities(p3=0.5, p10=0.49, p11=0.75))
    assert [(row.position, row.probability) for row in rows] == [(11, 0.75), (3, 0.5)]


def test_rows_are_complete():
    (row,) = site_table("tx", TRANSCRIPT, probabilities(p3=0.9))
    assert row == Site("tx", 3, pytest.approx(0.9), "ATG", 11, 9, 2, True, "MA")
    assert isinstance(row.position, int) and isinstance(row.probability, float)


def test_explicit_threshold():
    rows = site_table("tx", TRANSCRIPT, probabilities(p3=0.2, p10=0.1), threshold=0.15)
    assert [row.position for row in rows] == [3]


def test_top_k_breaks_ties_by_position():
    probs = probabilities(p11=0.3, p3=0.3, p10=0.3)
    rows = site_table("tx", TRANSCRIPT, probs, top_k=2)
    assert [row.position for row in rows] == [3, 10]


def test_top_k_ignores_the_default_threshold():
    rows = site_table("tx", TRANSCRIPT, probabilities(p10=0.01), top_k=1)
    assert [row.position for row in rows] == [10]


def test_top_k_and_threshold_together():
    probs = probabilities(p3=0.9, p10=0.8, p11=0.2)
    rows = site_table("tx", TRANSCRIPT, probs, threshold=0.5, top_k=5)
    assert [row.position for row in rows] == [3, 10]


def test_top_k_larger_than_the_transcript_lists_every_start_codon():
    assert sorted(row.position for row in site_table("tx", TRANSCRIPT, probabilities(), top_k=100)) == STARTS


def test_nan_is_never_a_site():
    probs = probabilities(p3=0.9)
    probs[9] = np.nan
    assert [row.position for row in site_table("tx", TRANSCRIPT, probs, top_k=2)] == [3, 11]


def test_positions_that_are_no_start_codon_are_never_sites():
    # a high score on a stop codon (TAA at 9), inside a codon with N, or in the last two nucleotides
    probs = probabilities(p9=0.99, p12=0.99, p13=0.99, p1=0.99)
    assert site_table("tx", TRANSCRIPT, probs, threshold=0.0) == site_table("tx", TRANSCRIPT, probabilities(),
                                                                            threshold=0.0)
    assert [row.position for row in site_table("tx", encode("NTGAAATAG"), np.ones(9), threshold=0.0)] == [6]
    assert site_table("tx", encode("A"), np.ones(1), top_k=1) == []
    assert site_table("tx", encode("N" * 30), np.ones(30), threshold=0.0) == []


@pytest.mark.parametrize("codon", ["ATG", "CTG", "GTG", "TTG", "AAG", "ACG", "AGG", "ATA", "ATC", "ATT"])
def test_every_start_codon_translates_to_methionine(codon):
    (row,) = site_table("tx", encode(codon + "CTGTAA"), np.array([0.9] + [0.0] * 8), top_k=1)
    assert row.start_codon == codon and row.protein == "ML"


def test_length_mismatch():
    with pytest.raises(ValueError, match="tx: 13 tokens but 12 probabilities"):
        site_table("tx", TRANSCRIPT, np.zeros(12))


def test_negative_top_k():
    with pytest.raises(ValueError, match="top_k"):
        site_table("tx", TRANSCRIPT, probabilities(), top_k=-1)
