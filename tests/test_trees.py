import pickle

import numpy as np
import pytest

lightgbm = pytest.importorskip("lightgbm")
pytest.importorskip("onnx")

from tis_transformer.predictor.features import FEATURE_NAMES, FeatureTables, orf_features  # noqa: E402
from tis_transformer.predictor.batch_features import padded_features  # noqa: E402
from tis_transformer.training.hexamers import fit_hexamer_log_odds  # noqa: E402
from tis_transformer.predictor.isoforms import ISOFORM_NAMES, STAGE_ONE_NAMES, IsoformIndex, start_orfs  # noqa: E402
from tis_transformer.predictor.metrics import average_precision  # noqa: E402
from tis_transformer.training.fit_trees import _float32_at_most, fit_trees, fit_two_stage_trees, trees_to_onnx  # noqa: E402
from tis_transformer.predictor.trees import (POOLED_NAMES, TreeScorer,  # noqa: E402
                                   pooled_scores, score_isoform_index,
                                   with_tree_column)

from conftest import subset  # noqa: E402

pytestmark = pytest.mark.train

IS_ATG = FEATURE_NAMES.index("is_atg")


@pytest.fixture(scope="module")
def chry_atg_rows(chry):
    """Features and labels at every ATG of chrY's first 300 and last 300 transcripts (table fitted on the first)."""
    first, last = subset(chry, range(300)), subset(chry, range(len(chry) - 300, len(chry)))
    table = FeatureTables(fit_hexamer_log_odds(first.transcript(i) for i in range(len(first))))

    def rows(data):
        pairs = [(orf_features(t, table), y) for t, y in (data.transcript(i) for i in range(len(data)))]
        x = np.concatenate([f for f, _ in pairs])
        y = np.concatenate([y for _, y in pairs]).astype(np.float32)
        transcript = np.concatenate([np.full(len(y), i) for i, (_, y) in enumerate(pairs)])
        atg = x[:, IS_ATG] > 0
        return x[atg], y[atg], transcript[atg]

    return rows(first), rows(last), table


def test_onnx_trees_compute_lightgbm_raw_scores(chry_atg_rows):
    (x, y, _), (x_test, _, _), _ = chry_atg_rows
    booster = lightgbm.train({"objective": "binary", "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1,
                              "num_threads": 1, "deterministic": True}, lightgbm.Dataset(x, y), 40)
    scorer = TreeScorer(trees_to_onnx([booster.dump_model()], x.shape[1]))
    got = scorer(x_test)
    expected = booster.predict(x_test, raw_score=True)
    assert np.abs(got - expected).max() < 1e-4
    assert len(np.unique(expected)) > 30  # the trees do vary over real rows
    # a value at a split's threshold goes left, as in LightGBM, after the threshold's rounding to float32
    thresholds = [n["threshold"] for n in _splits(booster.dump_model()["tree_info"][0]["tree_structure"])]
    at = x_test[:50].copy()
    tree = booster.dump_model()["tree_info"][0]["tree_structure"]
    at[:, tree["split_feature"]] = np.float32(_float32_at_most(tree["threshold"]))
    assert len(thresholds) > 3
    assert np.abs(scorer(at) - booster.predict(at, raw_score=True)).max() < 1e-4


def _splits(node):
    if "leaf_value" in node:
        return []
    return [node] + _splits(node["left_child"]) + _splits(node["right_child"])


def test_float32_threshold_keeps_every_comparison():
    for threshold in (0.1, -2.3456789012345, 1e-8, 3.0, 1 / 3):
        below = _float32_at_most(threshold)
        assert below.dtype == np.float32 and float(below) <= threshold
        assert float(np.nextafter(below, np.float32(np.inf))) > threshold


def test_fitted_trees_rank_held_out_atgs(chry_atg_rows):
    (x, y, _), (x_test, y_test, _), _ = chry_atg_rows
    weights = np.where(y > 0, 10.0, 1.0)
    model = fit_trees(x, y, weights, rounds=60, min_rows_in_leaf=20, seed=0, threads=1)
    assert model == fit_trees(x, y, weights, rounds=60, min_rows_in_leaf=20, seed=0, threads=1)  # deterministic
    scores = TreeScorer(model)(x_test)
    ap, base_rate = average_precision(y_test > 0, scores), y_test.mean()
    print(f"trees on held-out chrY ATGs: AP {ap:.3f} (base rate {base_rate:.4f})")
    assert ap > 0.25 and ap > 20 * base_rate


def test_scorer_fills_only_atg_positions_and_keeps_shape(chry, chry_atg_rows):
    (x, y, _), _, table = chry_atg_rows
    scorer = TreeScorer(fit_trees(x, y, np.ones_like(y), rounds=10, min_rows_in_leaf=20, threads=1))
    tokens = [chry.transcript(i)[0] for i in (0, 1, 2)]
    features = padded_features(tokens, max(map(len, tokens)), table)
    with_trees = padded_features(tokens, features.shape[1], table, trees=scorer)
    assert with_trees.shape == features.shape[:2] + (features.shape[2] + 1,)
    np.testing.assert_array_equal(with_trees[..., :-1], features)
    logits = with_trees[..., -1]
    is_atg = features[..., IS_ATG] > 0
    assert is_atg.any() and np.all(logits[~is_atg] == 0) and np.all(logits[is_atg] != 0)
    single = with_tree_column(orf_features(tokens[1], table), scorer)
    np.testing.assert_array_equal(single, with_trees[1, : len(tokens[1])])
    assert with_tree_column(features, None) is features
    # data-loader workers get a copy: the scorer pickles as its model and rebuilds its session
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(scorer))(features), logits)


def test_only_less_or_equal_splits_convert():
    dumped = {"tree_info": [{"tree_index": 0, "tree_structure": {
        "split_feature": 0, "threshold": "1||2", "decision_type": "==",
        "left_child": {"leaf_value": 1.0}, "right_child": {"leaf_value": 0.0}}}]}
    with pytest.raises(ValueError, match="not supported"):
        trees_to_onnx([dumped], 3)


def test_hand_worked_pooled_scores():
    logits = np.log([1 / 3, 1.0, 1 / 9, 4.0])  # probabilities 0.25, 0.5, 0.1, 0.8
    pooled = pooled_scores(logits, np.array([7, 7, 7, 2]))
    assert pooled.shape == (4, len(POOLED_NAMES)) and pooled.dtype == np.float32
    np.testing.assert_allclose(pooled[:, 0], [0.25, 0.5, 0.1, 0.8], rtol=1e-6)
    np.testing.assert_allclose(pooled[:, 1], [0.5, 0.5, 0.5, 0.8], rtol=1e-6)  # the transcript's best
    np.testing.assert_allclose(pooled[:, 2], [-0.25, 0, -0.4, 0], atol=1e-6)
    np.testing.assert_allclose(pooled[:, 3], np.log1p([1, 1, 1, 1]), rtol=1e-6)  # one ATG above 0.3 in each
    np.testing.assert_allclose(pooled[:, 4], [0.6, 0.35, 0.75, 0.0], atol=1e-6)  # the others' sum


def test_two_stage_trees_pool_each_transcript_apart(chry, chry_atg_rows):
    (x, y, transcript), (x_test, y_test, transcript_test), table = chry_atg_rows
    weights = np.where(y > 0, 10.0, 1.0)
    first, second = fit_two_stage_trees(x, y, weights, transcript, rounds=40, logit_offset=-np.log(10.0),
                                        min_rows_in_leaf=20, threads=1)
    scorer = TreeScorer(second, first)
    assert scorer.columns == x.shape[1]
    # the stages by hand: first-stage logits, pooled per transcript, read with the features by the second stage
    tokens = [chry.transcript(i)[0] for i in range(len(chry) - 3, len(chry))]
    features = padded_features(tokens, max(map(len, tokens)), table)
    got = scorer(features)
    for row, t in enumerate(tokens):
        f = features[row, : len(t)]
        atg = f[:, IS_ATG] > 0
        stage_one = TreeScorer(first)(f)[atg]
        expected = TreeScorer(second)(np.concatenate([f[atg], pooled_scores(stage_one, np.zeros(atg.sum()))], 1))
        np.testing.assert_allclose(got[row, : len(t)][atg], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(scorer(f), got[row, : len(t)])  # alone as in a padded batch
    # held-out ATGs, pooled by transcript
    pooled_rows = np.concatenate([x_test, pooled_scores(TreeScorer(first)(x_test), transcript_test)], axis=1)
    ap = average_precision(y_test > 0, TreeScorer(second)(pooled_rows))
    print(f"two-stage trees on held-out chrY ATGs: AP {ap:.3f}")
    assert ap > 0.25
    with pytest.raises(ValueError, match="two tree stages read"):
        TreeScorer(first, first)


def test_trees_read_isoform_columns_from_the_whole_input(chry, chry_atg_rows):
    (x, y, transcript), _, table = chry_atg_rows
    first_300 = [chry.transcript(i)[0] for i in range(300)]
    index = IsoformIndex.of(first_300)
    alike = np.concatenate([index.columns(t) for t in first_300])
    is_atg = np.concatenate([orf_features(t, table)[:, IS_ATG] > 0 for t in first_300])
    rows = np.concatenate([x, alike[is_atg]], axis=1)
    assert (alike[is_atg, 4] > 0).mean() > 0.3  # chrY's isoforms share many starts
    first, second = fit_two_stage_trees(rows, y, np.where(y > 0, 10.0, 1.0), transcript, rounds=30,
                                        min_rows_in_leaf=20, threads=1)
    scorer = TreeScorer(second, first, feature_columns=x.shape[1])
    assert scorer.columns == x.shape[1] and scorer.isoform_columns == len(ISOFORM_NAMES)
    tokens = first_300[:40]
    length = max(map(len, tokens))
    features = padded_features(tokens, length, table)
    with_index = padded_features(tokens, length, table, trees=scorer, isoforms=index)[..., -1]
    alone = padded_features(tokens, length, table, trees=scorer)[..., -1]
    # the column is the trees on the features and the index's columns; without an index, on zeros
    padded_alike = np.zeros(features.shape[:2] + (len(ISOFORM_NAMES),), dtype=np.float32)
    for row, t in enumerate(tokens):
        padded_alike[row, : len(t)] = index.columns(t)
    np.testing.assert_array_equal(with_index, scorer(features, padded_alike))
    np.testing.assert_array_equal(alone, scorer(features, np.zeros_like(padded_alike)))
    assert np.any(with_index != alone)
    np.testing.assert_array_equal(with_tree_column(orf_features(tokens[3], table), scorer, index.columns(tokens[3])),
                                  padded_features(tokens[3:4], len(tokens[3]), table, trees=scorer, isoforms=index)[0])
    # pickled for data-loader workers, the scorer still knows which columns are the features
    assert pickle.loads(pickle.dumps(scorer)).isoform_columns == len(ISOFORM_NAMES)
    with pytest.raises(ValueError, match="do not fit"):
        TreeScorer(second, first, feature_columns=x.shape[1] - 2)


def test_second_stage_reads_first_stage_scores_of_other_transcripts(chry, chry_atg_rows, monkeypatch):
    (x, y, transcript), _, table = chry_atg_rows
    tokens = [chry.transcript(i)[0] for i in range(300)]
    index = IsoformIndex.of(tokens)
    rows = np.concatenate([x, np.concatenate([index.columns(t)[start_orfs(t)[0]] for t in tokens])], axis=1)
    first, second = fit_two_stage_trees(rows, y, np.where(y > 0, 10.0, 1.0), transcript, rounds=30,
                                        min_rows_in_leaf=20, threads=1,
                                        stage_one_columns=lambda p: index.set_stage_one(p).stage_one_rows())
    scorer = TreeScorer(second, first, feature_columns=x.shape[1])
    assert scorer.isoform_names == list(ISOFORM_NAMES) + list(STAGE_ONE_NAMES)
    scored = score_isoform_index(tokens, scorer, lambda t: orf_features(t, table))
    assert scored.width == len(scorer.isoform_names)
    # the index's first-stage scores are the scorer's own, start by start
    expected = np.concatenate([scorer.stage_one_logits(orf_features(t, table), scored.columns(t)) for t in tokens])
    probabilities = 1 / (1 + np.exp(-expected.astype(np.float64)))
    np.testing.assert_allclose(IsoformIndex.of(tokens).set_stage_one(probabilities).stage_one_rows(),
                               scored.stage_one_rows(), rtol=1e-6)
    f = orf_features(tokens[5], table)
    assert np.any(scorer(f, scored.columns(tokens[5])) != scorer(f))  # alone differs
    with pytest.raises(ValueError, match="has none"):
        scorer(f, IsoformIndex.of(tokens).columns(tokens[5]))  # an index without first-stage scores
    assert score_isoform_index(tokens, None, lambda t: orf_features(t, table)) is None
    # the first-stage pass in chunks of at most 20,000 nt (features computed a chunk at a time): the same scores
    from tis_transformer.predictor import isoforms, trees
    from tis_transformer.predictor.batch_features import orf_features_many

    chunks = []
    def small_chunks(transcripts):
        for chunk in isoforms._chunks(transcripts, max_nt=20_000):
            chunks.append(sum(len(t) for t in chunk))
            yield chunk

    monkeypatch.setattr(trees, "_chunks", small_chunks)
    chunked = score_isoform_index(tokens, scorer, None, lambda many: orf_features_many(many, table))
    assert len(chunks) > 10 and sum(chunks) == sum(len(t) for t in tokens)
    np.testing.assert_allclose(chunked.stage_one_rows(), scored.stage_one_rows(), rtol=1e-6)
