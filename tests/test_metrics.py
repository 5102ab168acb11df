import numpy as np
import pytest

from tis_transformer.predictor.metrics import atg_mask, average_precision, roc_auc, tis_metrics, top_k_accuracy


def test_roc_auc_hand_worked():
    # positives at scores 0.9 and 0.4; negatives 0.8, 0.3, 0.1
    # pairs won: 0.9 beats all 3, 0.4 beats 2 of 3 -> 5/6
    labels = np.array([1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.1])
    assert roc_auc(labels, scores) == pytest.approx(5 / 6)


def test_roc_auc_counts_ties_as_half():
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_average_precision_hand_worked():
    # ranked: 1 (P=1, R=.5), 0, 1 (P=2/3, R=1) -> AP = .5*1 + .5*2/3
    labels = np.array([1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.1])
    assert average_precision(labels, scores) == pytest.approx(0.5 + 1 / 3)


def test_average_precision_ties_form_one_threshold():
    # all tied: a single point with precision 1/2 at recall 1
    assert average_precision(np.array([1, 0]), np.array([0.3, 0.3])) == pytest.approx(0.5)


def test_top_k_uses_number_of_positives():
    labels = np.array([1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.1])
    assert top_k_accuracy(labels, scores) == pytest.approx(0.5)
    assert top_k_accuracy(labels, scores, k=1) == pytest.approx(1.0)


def test_one_class_gives_nan():
    assert np.isnan(roc_auc(np.zeros(3), np.arange(3)))
    assert np.isnan(average_precision(np.zeros(3), np.arange(3)))


def test_atg_mask_and_tis_metrics():
    tokens = np.array([0, 1, 3, 2, 0, 1, 3])  # ATGCATG
    assert atg_mask(tokens).tolist() == [True, False, False, False, True, False, False]
    labels = np.array([1, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1])
    m = tis_metrics(labels, scores, atg_mask(tokens))
    assert m["tis"] == 1 and m["positions"] == 7
    assert m["pr_auc"] == pytest.approx(1.0) and m["roc_auc_atg"] == pytest.approx(1.0)
    assert m["top_k"] == pytest.approx(1.0)


def test_top_1_counts_transcripts_with_a_tis_whose_best_position_is_one():
    from tis_transformer.predictor.metrics import top_1_accuracy

    labels = [np.array([0, 1, 0]), np.array([1, 0, 0, 0]), np.array([0, 0]), np.array([0, 0, 1])]
    scores = [np.array([.1, .9, .2]), np.array([.3, .5, .1, 0]), np.array([.9, .1]), np.array([.5, .2, .5])]
    # hit, miss, no TIS (not counted), tie at the top whose first position is not the TIS: miss
    assert top_1_accuracy(labels, scores) == pytest.approx(1 / 3)
    assert np.isnan(top_1_accuracy([np.array([0, 0])], [np.array([.1, .2])]))
