import numpy as np
import pytest

from tis_transformer.predictor.batch_features import orf_features_many
from tis_transformer.predictor.features import (FEATURE_NAMES, FEATURE_SETS, HEXAMERS, START_CONTEXT,
                                                START_CONTEXT_OFFSETS, START_CONTEXT_SHAPE, TRANSCRIPT_ENDS,
                                                FeatureTables, feature_set_of, orf_features)
from tis_transformer.predictor.tokens import encode
from tis_transformer.training.hexamers import fit_hexamer_log_odds
from tis_transformer.training.start_context import fit_start_context_log_odds

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


def hexamer(first: str, second: str) -> int:
    a, b = (int(np.dot(encode(c), [16, 4, 1])) for c in (first, second))
    return 64 * a + b


def test_hand_worked_hexamer_sums():
    table = np.zeros(HEXAMERS, dtype=np.float32)
    table[hexamer("ATG", "AAA")] = 1.0  # read in frame only from position 2
    table[hexamer("TAG", "GAT")] = -3.0  # starts at the stop ending the ORF of 7: not in it
    f = orf_features(np.asarray(encode(SEQUENCE)), FeatureTables(table))
    assert f[2, COLUMN["orf_hexamer_sum"]] == pytest.approx(np.log1p(1.0) / 7.0)
    assert f[2, COLUMN["orf_hexamer_mean"]] == pytest.approx(1.0 / 7 / 2)
    assert f[5, COLUMN["orf_hexamer_sum"]] == 0 and f[17, COLUMN["orf_hexamer_sum"]] == 0
    assert np.flatnonzero(f[:, COLUMN["best_hexamer_atg"]]).tolist() == [2]
    vs_best = f[:, COLUMN["orf_hexamer_sum_vs_best_atg"]]
    assert vs_best[2] == pytest.approx(1.0) and vs_best[7] == pytest.approx(1 - np.log1p(1.0) / 7.0)
    assert vs_best[3] == 0  # only ATGs are compared
    assert np.allclose(f[:, COLUMN["transcript_best_hexamer_sum"]], np.log1p(1.0) / 7.0)
    # without a table every hexamer scores 0: every ATG ties for best, the rest is unchanged
    plain = orf_features(np.asarray(encode(SEQUENCE)))
    assert not plain[:, [10, 11, 13, 14]].any() and np.array_equal(plain[:, :10], f[:, :10])
    assert np.array_equal(plain[:, COLUMN["orf_hexamer_sum_vs_best_atg"]], plain[:, COLUMN["is_atg"]])


def test_hand_worked_coding_context():
    table = np.zeros(HEXAMERS, dtype=np.float32)
    table[hexamer("ATG", "AAA")] = 1.0  # at 2, inside the ORF of the ATG at 2
    table[hexamer("ATG", "TTT")] = 2.0  # at 17: past the stop of the ATG at 7 (TAG at 13)
    f = orf_features(np.asarray(encode(SEQUENCE)), FeatureTables(table))

    def signed(x):
        return np.sign(x) * np.log1p(abs(x)) / 7.0

    # no in-frame stop before any of the three ATGs: frames open to the 5' end
    assert f[[2, 7, 17], COLUMN["open_to_5prime"]].tolist() == [1, 1, 1]
    upstream = np.expm1(f[:, COLUMN["log_upstream_frame_codons"]] * 7.0)
    assert upstream[[2, 7, 17]] == pytest.approx([0, 2, 5])
    assert f[17, COLUMN["upstream_frame_hexamer_sum"]] == pytest.approx(signed(1.0))
    assert f[7, COLUMN["log_upstream_atgs"]] == pytest.approx(np.log1p(1) / 7.0)
    # coding-like sequence after the stop of the ATG at 7, none after the ORF of the ATG at 2
    assert f[7, COLUMN["downstream_best_coding_stretch"]] == pytest.approx(signed(2.0))
    assert f[2, COLUMN["downstream_best_coding_stretch"]] == 0
    assert f[7, COLUMN["downstream_stretch_vs_orf"]] == pytest.approx(signed(2.0))
    assert f[17, COLUMN["upstream_best_coding_stretch"]] == pytest.approx(signed(1.0))
    # head and tail of the ORF at 2 (7 codons, both ends cover all of it): (1 + 2) / 7 per codon, halved
    assert f[2, COLUMN["orf_head_hexamer_mean"]] == pytest.approx(3 / 7 / 2)
    assert f[2, COLUMN["orf_tail_hexamer_mean"]] == pytest.approx(3 / 7 / 2)
    # ATG sums 3 (at 2), 0 (at 7), 2 (at 17): ranks 0, 2, 1; second best 2
    rank = np.expm1(f[:, COLUMN["log_hexamer_rank_among_atgs"]] * 7.0)
    assert rank[[2, 7, 17]] == pytest.approx([0, 2, 1])
    assert f[2, COLUMN["best_minus_second_atg_hexamer_sum"]] == pytest.approx(signed(1.0))
    assert f[7, COLUMN["orf_hexamer_sum_vs_second_atg"]] == pytest.approx(signed(-2.0))
    gc = sum(c in "GC" for c in SEQUENCE) / len(SEQUENCE)
    assert np.allclose(f[:, COLUMN["gc_transcript"]], gc)


def test_hand_worked_transcript_ends():
    # CpG-rich 5' end, AATAAA 20 nt before the 3' end, ATTAAA 40 nt before it
    sequence = "CGCG" * 5 + "T" * 30 + "ATTAAA" + "C" * 14 + "AATAAA" + "A" * 14
    f = features_of(sequence)
    ends = TRANSCRIPT_ENDS
    assert np.array_equal(f[:, ends], np.broadcast_to(f[0, ends], f[:, ends].shape))  # one value per transcript
    row = f[0]
    assert row[COLUMN["gc_first_50"]] == pytest.approx(20 / 50)
    assert row[COLUMN["cpg_first_50"]] == pytest.approx(10 / 50)
    assert row[COLUMN["gc_first_200"]] == pytest.approx(34 / 90)  # the whole transcript, shorter than 200
    assert row[COLUMN["pyrimidines_first_10"]] == pytest.approx(0.5)
    assert np.expm1(row[COLUMN["log_aataaa_from_3prime"]] * 10) == pytest.approx(20, rel=1e-5)
    assert np.expm1(row[COLUMN["log_attaaa_from_3prime"]] * 10) == pytest.approx(40, rel=1e-5)
    assert row[COLUMN["aataaa_10_to_40_from_3prime"]] == 1 and row[COLUMN["attaaa_10_to_40_from_3prime"]] == 1
    assert row[COLUMN["other_pas_10_to_40_from_3prime"]] == 0  # no variant anywhere
    assert np.expm1(row[COLUMN["log_other_pas_from_3prime"]] * 10) == pytest.approx(10_000, rel=1e-4)
    assert row[COLUMN["a_last_30"]] == pytest.approx(19 / 30) and row[COLUMN["t_last_30"]] == pytest.approx(1 / 30)
    # a signal too close to the end is no cleavage site's signal
    assert features_of("G" * 50 + "AATAAA" + "A" * 3)[0, COLUMN["aataaa_10_to_40_from_3prime"]] == 0


def test_transcript_ends_tell_complete_coding_transcripts_apart(chry):
    coding, noncoding = [], []
    for i in range(len(chry)):
        tokens, labels = chry.transcript(i)
        (coding if labels.any() else noncoding).append(orf_features(tokens)[0])
    coding, noncoding = np.array(coding), np.array(noncoding)
    cpg = COLUMN["cpg_first_50"]
    print(f"CpG in the first 50 nt: coding {coding[:, cpg].mean():.4f}, non-coding {noncoding[:, cpg].mean():.4f}")
    assert coding[:, cpg].mean() > 1.3 * noncoding[:, cpg].mean()


def test_feature_sets():
    # earlier sets (orf-v2 to orf-v4) are no longer read; orf-v6 adds the start context to orf-v5
    assert FEATURE_SETS == {"orf-v5": 55, "orf-v6": len(FEATURE_NAMES)} and len(FEATURE_NAMES) == 55 + 25
    assert feature_set_of(55) == "orf-v5" and feature_set_of(len(FEATURE_NAMES)) == "orf-v6"
    assert START_CONTEXT.start == 55 and START_CONTEXT.stop == len(FEATURE_NAMES)
    assert FEATURE_NAMES[START_CONTEXT][:2] == ("start_context_-12", "start_context_-11")
    assert "start_context_-3" in FEATURE_NAMES and "start_context_+4" in FEATURE_NAMES
    assert FEATURE_NAMES[-1] == "start_context_score"
    with pytest.raises(ValueError, match="no feature set"):
        feature_set_of(54)


def test_start_context_columns_by_hand():
    table = np.arange(np.prod(START_CONTEXT_SHAPE), dtype=np.float32).reshape(START_CONTEXT_SHAPE) / 100
    sequence = "GCCACCATGGCGTAA"  # the Kozak consensus around the ATG at 6
    f = orf_features(np.asarray(encode(sequence)), FeatureTables(start_context=table), "orf-v6")
    tokens = dict(zip("ATCGN", range(5)))
    column = {o: START_CONTEXT.start + j for j, o in enumerate(START_CONTEXT_OFFSETS)}
    for offset, letter in ((-3, "A"), (-1, "C"), (-6, "G"), (-7, "N"), (3, "G"), (8, "A"), (9, "N")):
        j = START_CONTEXT_OFFSETS.index(offset)
        assert f[6, column[offset]] == pytest.approx(table[j, tokens[letter]]), offset
    expected = sum(table[j, tokens[(sequence + "N" * 20)[6 + o] if 6 + o >= 0 else "N"]]
                   for j, o in enumerate(START_CONTEXT_OFFSETS))
    assert f[6, -1] == pytest.approx(expected, rel=1e-6)
    # orf-v5 models read the leading 55 columns, unchanged; without a table the context columns are 0
    np.testing.assert_array_equal(f[:, :55], orf_features(np.asarray(encode(sequence)), None, "orf-v5"))
    assert not orf_features(np.asarray(encode(sequence)))[:, START_CONTEXT].any()


def test_fitted_start_context_finds_the_kozak_consensus():
    from conftest import CHROMOSOMES, needs_shared
    from tis_transformer.training.datasets import read_original

    needs_shared(CHROMOSOMES / "chr22.npy.gz")
    chr22 = read_original(CHROMOSOMES / "chr22.npy.gz")  # 1,968 TISs (chrY's 145 are too few for -3 G)
    table = fit_start_context_log_odds(chr22.transcript(i) for i in range(len(chr22)))
    assert table.shape == START_CONTEXT_SHAPE and table.dtype == np.float32
    assert np.array_equal(table, np.round(table, 4))  # survives JSON metadata unchanged
    a, t, c, g = range(4)
    minus_3, plus_4 = START_CONTEXT_OFFSETS.index(-3), START_CONTEXT_OFFSETS.index(3)
    print(f"-3: {table[minus_3, :4]}, +4: {table[plus_4, :4]}")
    # Kozak: a purine at -3 and G at +4 mark annotated starts among all ATGs (Kozak 1987, Nucleic Acids Res 15:8125)
    assert min(table[minus_3, a], table[minus_3, g]) > 0 > max(table[minus_3, c], table[minus_3, t])
    assert table[plus_4, g] == table[plus_4, :4].max() > 0
    assert not fit_start_context_log_odds([]).any()


def test_fitted_table_scores_annotated_coding_frames(chry):
    train = [chry.transcript(i) for i in range(0, len(chry), 2)]
    table = fit_hexamer_log_odds(train)
    assert table.shape == (HEXAMERS,) and table.dtype == np.float32 and table[-1] == 0
    assert np.array_equal(table, np.round(table, 4))  # survives JSON metadata unchanged
    # stop codons never start a hexamer inside an ORF: they get the pseudocount only
    assert table[hexamer("TAA", "ATG")] < -1
    assert fit_hexamer_log_odds([]).tolist() == [0.0] * HEXAMERS


def test_features_are_bounded_and_informative_on_real_transcripts(chry):
    table = fit_hexamer_log_odds(chry.transcript(i) for i in range(1, len(chry), 2))
    at_tis, other_atg = [], []
    for i in range(0, len(chry), 2):  # transcripts the table was not fitted on
        tokens, labels = chry.transcript(i)
        f = orf_features(tokens, FeatureTables(table))
        assert np.isfinite(f).all() and f.min() >= -2.0 and f.max() <= 2.0
        at_tis.append(f[labels > 0])
        other_atg.append(f[(labels == 0) & (f[:, COLUMN["is_atg"]] > 0)])
    at_tis, other_atg = np.concatenate(at_tis), np.concatenate(other_atg)
    # most annotated TISs are ATGs starting the transcript's longest complete ORF
    assert len(at_tis) > 20
    assert at_tis[:, COLUMN["is_atg"]].mean() > 0.95
    assert at_tis[:, COLUMN["starts_longest_orf"]].mean() > 0.5
    # and read as coding sequence, unlike other ATGs' frames
    mean = COLUMN["orf_hexamer_mean"]
    print(f"hexamer mean at TIS {at_tis[:, mean].mean():.3f}, other ATGs {other_atg[:, mean].mean():.3f}")
    assert at_tis[:, mean].mean() > other_atg[:, mean].mean() + 0.1
    assert at_tis[:, COLUMN["best_hexamer_atg"]].mean() > 0.5


def test_near_cognate_codons_are_one_letter_from_atg():
    from tis_transformer.predictor.features import NEAR_COGNATE_COLUMN

    f = features_of("CTGATGGTGTTGACGAGGAAGATAATCATTCCCTAA")
    near = np.flatnonzero(f[:, NEAR_COGNATE_COLUMN] > 0).tolist()
    # CTG 0, GTG 6, TTG 9, ACG 12, AGG 15, AAG 18, ATA 21, ATC 24, ATT 27; ATG (3) is not, nor CCC or TAA
    assert [0, 6, 9, 12, 15, 18, 21, 24, 27] == [p for p in near if p % 3 == 0]
    assert f[3, NEAR_COGNATE_COLUMN] == 0 and f[3, COLUMN["is_atg"]] == 1
    assert not (f[:, NEAR_COGNATE_COLUMN] * f[:, COLUMN["is_atg"]]).any()
    assert NEAR_COGNATE_COLUMN == FEATURE_SETS["orf-v5"] - 1 == TRANSCRIPT_ENDS.stop


def _assorted_transcripts(seed: int = 0) -> list:
    """Random transcripts of every length 0..70 and some longer: with Ns, without ATG, of repeated ATGs."""
    rng = np.random.default_rng(seed)
    out = []
    for n in list(range(71)) + [100, 301, 302, 600, 1500]:
        for kind in range(5):
            t = rng.choice(5, n, p=[[.25] * 4 + [0], [.2] * 5, [.3, .3, .2, .2, 0]][kind % 3]).astype(np.int8)
            if kind == 3:
                t[t == 3] = 0  # no G, so no ATG
            if kind == 4:
                t[:] = np.tile([0, 1, 3], n)[:n]  # ATG after ATG
            out.append(t)
    return out


@pytest.mark.parametrize("feature_set", list(FEATURE_SETS))
def test_many_transcripts_at_once_give_each_ones_features(chry, feature_set):
    table = fit_hexamer_log_odds(chry.transcript(i) for i in range(0, len(chry), 10))
    real = [chry.transcript(i)[0] for i in range(len(chry)) if len(chry.transcript(i)[0]) <= 2000][:200]
    # real transcripts cut to a few shared lengths, so that they go through in blocks too
    tokens = _assorted_transcripts() + real + [t[:n] for t in real for n in (30, 50, 500) if len(t) >= n]
    context = fit_start_context_log_odds(chry.transcript(i) for i in range(0, len(chry), 10))
    for tables in (FeatureTables(table, context), None):
        together = orf_features_many(tokens, tables, feature_set)
        for t, got in zip(tokens, together):
            expected = orf_features(t, tables, feature_set)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)


def test_feature_tables_keep_the_precision_and_shape_a_model_stores():
    tables = FeatureTables(np.ones(HEXAMERS, dtype=np.float64), np.zeros(int(np.prod(START_CONTEXT_SHAPE))))
    assert tables.hexamers.dtype == np.float32 and tables.start_context.shape == START_CONTEXT_SHAPE
    assert tables.start_context.dtype == np.float32
    with pytest.raises(ValueError, match="4097 values, not 64"):
        FeatureTables(np.ones(64))
    with pytest.raises(ValueError):
        FeatureTables(start_context=np.ones(7))
    # a float64 table and its float32 copy give the same features: the model's precision is the one used
    sequence = np.asarray(encode("CCGCCATGGCGTTTAAACCCGGGTGA"))
    table = np.random.default_rng(0).normal(size=HEXAMERS)
    np.testing.assert_array_equal(orf_features(sequence, FeatureTables(table)),
                                  orf_features(sequence, FeatureTables(table.astype(np.float32))))
