"""Fitting the boosted trees (LightGBM) and writing them as ONNX TreeEnsembleRegressors (``train`` extra).

``tis_transformer.predictor.trees`` scores what these write; see its docstring for the stages and columns.
"""

from __future__ import annotations

import numpy as np

from tis_transformer.predictor.trees import _ML_OPSET, pooled_scores


def _booster(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, rounds: int, leaves: int,
             learning_rate: float, min_rows_in_leaf: int, seed: int, threads: int):
    import lightgbm

    params = {"objective": "binary", "learning_rate": learning_rate, "num_leaves": leaves,
              "min_data_in_leaf": min_rows_in_leaf, "feature_fraction": 0.8, "bagging_fraction": 0.8,
              "bagging_freq": 1, "seed": seed, "deterministic": True, "force_row_wise": True,
              "verbose": -1, "num_threads": threads}
    data = lightgbm.Dataset(np.asarray(features, dtype=np.float32), np.asarray(labels, dtype=np.float32),
                            weight=np.asarray(weights, dtype=np.float32))
    return lightgbm.train(params, data, num_boost_round=rounds)


def fit_trees(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, rounds: int,
              leaves: int = 31, learning_rate: float = 0.05, min_rows_in_leaf: int = 200,
              seed: int = 0, threads: int = 0) -> bytes:
    """Fit boosted trees to ATG rows and return them as a serialized ONNX model.

    Parameters
    ----------
    features : np.ndarray
        ``(rows, columns)`` float32 reading-frame features.
    labels, weights : np.ndarray
        ``(rows,)`` TIS labels (0/1) and loss weights.
    rounds : int
        Boosting rounds (trees).
    leaves : int
        Leaves per tree.
    learning_rate : float
        Shrinkage of each tree.
    min_rows_in_leaf : int
        Fewest rows a leaf may hold.
    seed : int
        Seed of the row and column subsamples.
    threads : int
        LightGBM threads (0: its default).

    Returns
    -------
    bytes
        An ONNX model: input ``features`` (rows, columns) float32, output
        ``logits`` (rows, 1) float32, the trees' raw score (log-odds).
    """
    booster = _booster(features, labels, weights, rounds, leaves, learning_rate, min_rows_in_leaf, seed, threads)
    return trees_to_onnx([booster.dump_model()], features.shape[1])


def fit_two_stage_trees(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, transcripts: np.ndarray,
                        rounds: int, folds: int = 3, logit_offset: float = 0.0, seed: int = 0, threads: int = 0,
                        stage_one_columns=None, **options) -> tuple[bytes, bytes]:
    """Fit cross-fitted first-stage trees, then second-stage trees on the features and pooled first-stage scores.

    The rows' transcripts are cut into ``folds`` contiguous blocks (isoforms
    of a gene lie next to each other in the data, so a block rarely shares a
    gene with another); each block is scored by first-stage trees fitted to
    the others.  The first stage shipped averages the ``folds`` models.

    Parameters
    ----------
    features, labels, weights : np.ndarray
        As for ``fit_trees``, ATG rows only.
    transcripts : np.ndarray
        ``(rows,)`` index of each row's transcript, in data order.
    rounds : int
        Boosting rounds of each model.
    folds : int
        Blocks of transcripts for cross-fitting.
    logit_offset : float
        Added to first-stage logits before they are pooled as probabilities
        (``-log(pos_weight)`` undoes the weight of the TIS rows).
    stage_one_columns : callable, optional
        Maps the rows' first-stage probabilities to more columns for the
        second stage (``IsoformIndex.set_stage_one``, then its
        ``stage_one_rows``: the scores pooled over other transcripts).
    seed, threads, **options
        As for ``fit_trees``.

    Returns
    -------
    tuple of bytes
        The first stage (features to logit) and the second (features and
        ``POOLED_NAMES`` to logit), each a serialized ONNX model.
    """
    settings = {"leaves": 31, "learning_rate": 0.05, "min_rows_in_leaf": 200, **options}
    _, order = np.unique(transcripts, return_inverse=True)
    block = order * folds // (order.max() + 1)
    out_of_fold = np.zeros(len(labels), dtype=np.float64)
    dumps = []
    for k in range(folds):
        held = block == k
        booster = _booster(features[~held], labels[~held], weights[~held], rounds, seed=seed, threads=threads,
                           **settings)
        out_of_fold[held] = booster.predict(features[held], raw_score=True)
        dumps.append(booster.dump_model())
    parts = [features, pooled_scores(out_of_fold + logit_offset, transcripts)]
    if stage_one_columns is not None:
        parts.append(stage_one_columns(1.0 / (1.0 + np.exp(-(out_of_fold + logit_offset)))))
    stacked = np.concatenate(parts, axis=1)
    second = _booster(stacked, labels, weights, rounds, seed=seed, threads=threads, **settings)
    first = trees_to_onnx(dumps, features.shape[1], scale=1.0 / folds, base=logit_offset)
    return first, trees_to_onnx([second.dump_model()], stacked.shape[1])


def _float32_at_most(threshold: float) -> np.float32:
    """The largest float32 not above ``threshold``: for float32 x, x <= it exactly when x <= threshold."""
    value = np.float32(threshold)
    return np.nextafter(value, np.float32(-np.inf)) if float(value) > threshold else value


def trees_to_onnx(dumps: list, columns: int, scale: float = 1.0, base: float = 0.0) -> bytes:
    """An ONNX TreeEnsembleRegressor computing ``base + scale * sum`` of LightGBM models' raw scores.

    ``dumps`` are ``Booster.dump_model()`` dictionaries over the same ``columns`` features.
    """
    import onnx
    from onnx import TensorProto, helper

    nodes: dict[str, list] = {key: [] for key in ("treeids", "nodeids", "featureids", "modes", "values",
                                                  "truenodeids", "falsenodeids")}
    targets: dict[str, list] = {"nodeids": [], "treeids": [], "weights": []}
    tree_id = 0
    for dumped in dumps:
        for tree in dumped["tree_info"]:
            _add_tree(tree["tree_structure"], tree_id, nodes, targets, scale)
            tree_id += 1
    ensemble = helper.make_node(
        "TreeEnsembleRegressor", ["features"], ["logits"], domain="ai.onnx.ml", n_targets=1,
        aggregate_function="SUM", post_transform="NONE", base_values=[float(base)],
        **{f"nodes_{key}": value for key, value in nodes.items()},
        target_ids=[0] * len(targets["weights"]), target_nodeids=targets["nodeids"],
        target_treeids=targets["treeids"], target_weights=targets["weights"])
    graph = helper.make_graph(
        [ensemble], "trees",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, columns])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                    helper.make_opsetid("ai.onnx.ml", _ML_OPSET)],
                              producer_name="tis-transformer")
    model.ir_version = 8  # readable by every onnxruntime the package supports (>= 1.18)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _add_tree(root: dict, tree_id: int, nodes: dict, targets: dict, scale: float) -> None:
    stack, next_id = [(root, 0)], 1
    while stack:
        node, node_id = stack.pop()
        nodes["treeids"].append(tree_id)
        nodes["nodeids"].append(node_id)
        if "leaf_value" in node:
            nodes["modes"].append("LEAF")
            for key in ("featureids", "truenodeids", "falsenodeids"):
                nodes[key].append(0)
            nodes["values"].append(0.0)
            targets["treeids"].append(tree_id)
            targets["nodeids"].append(node_id)
            targets["weights"].append(scale * float(node["leaf_value"]))
            continue
        if node["decision_type"] != "<=":
            raise ValueError(f"tree split {node['decision_type']!r} is not supported")
        left, right = next_id, next_id + 1
        next_id += 2
        nodes["modes"].append("BRANCH_LEQ")
        nodes["featureids"].append(int(node["split_feature"]))
        nodes["values"].append(float(_float32_at_most(float(node["threshold"]))))
        nodes["truenodeids"].append(left)
        nodes["falsenodeids"].append(right)
        stack += [(node["left_child"], left), (node["right_child"], right)]
