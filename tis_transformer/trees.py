"""Boosted trees over the reading-frame features, scored at ATGs: a second view the feature head is blended with.

A multilayer perceptron and an ensemble of decision trees fitted to the same
features err differently, and the average of their logits ranks ATGs better
than either.  The trees are fitted with LightGBM (``train`` extra) and kept as
a small ONNX model (``ai.onnx.ml`` TreeEnsembleRegressor) that the lean
predictor runs with onnxruntime alone.  Their logit reaches the network as one
more input-feature column after the reading-frame ones, zero wherever no ATG
starts; ``TISNetwork`` blends it with its feature head there.
"""

from __future__ import annotations

import numpy as np

from .features import FEATURE_NAMES

TREE_COLUMN_NAME = "tree_logit"
_IS_ATG = FEATURE_NAMES.index("is_atg")
_ML_OPSET = 3


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
    import lightgbm

    params = {"objective": "binary", "learning_rate": learning_rate, "num_leaves": leaves,
              "min_data_in_leaf": min_rows_in_leaf, "feature_fraction": 0.8, "bagging_fraction": 0.8,
              "bagging_freq": 1, "seed": seed, "deterministic": True, "force_row_wise": True,
              "verbose": -1, "num_threads": threads}
    data = lightgbm.Dataset(np.asarray(features, dtype=np.float32), np.asarray(labels, dtype=np.float32),
                            weight=np.asarray(weights, dtype=np.float32))
    booster = lightgbm.train(params, data, num_boost_round=rounds)
    return trees_to_onnx(booster.dump_model(), features.shape[1])


def _float32_at_most(threshold: float) -> np.float32:
    """The largest float32 not above ``threshold``: for float32 x, x <= it exactly when x <= threshold."""
    value = np.float32(threshold)
    return np.nextafter(value, np.float32(-np.inf)) if float(value) > threshold else value


def trees_to_onnx(dumped: dict, columns: int) -> bytes:
    """An ONNX TreeEnsembleRegressor computing the raw score of a LightGBM model from ``dump_model()``."""
    import onnx
    from onnx import TensorProto, helper

    nodes: dict[str, list] = {key: [] for key in ("treeids", "nodeids", "featureids", "modes", "values",
                                                  "truenodeids", "falsenodeids")}
    targets: dict[str, list] = {"nodeids": [], "treeids": [], "weights": []}
    for tree in dumped["tree_info"]:
        tree_id = tree["tree_index"]
        stack, next_id = [(tree["tree_structure"], 0)], 1
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
                targets["weights"].append(float(node["leaf_value"]))
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
    ensemble = helper.make_node(
        "TreeEnsembleRegressor", ["features"], ["logits"], domain="ai.onnx.ml", n_targets=1,
        aggregate_function="SUM", post_transform="NONE",
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
    model.ir_version = 8  # readable by every onnxruntime the package supports (>= 1.16)
    onnx.checker.check_model(model)
    return model.SerializeToString()


class TreeScorer:
    """Runs serialized trees (from ``fit_trees``) with onnxruntime at the ATG rows of feature arrays.

    Parameters
    ----------
    model : bytes
        The serialized ONNX model.
    """

    def __init__(self, model: bytes):
        import onnxruntime as ort

        self.model = bytes(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(self.model, options, providers=["CPUExecutionProvider"])
        self.columns = int(self.session.get_inputs()[0].shape[1])

    def __getstate__(self) -> dict:  # onnxruntime sessions do not pickle (data-loader workers)
        return {"model": self.model}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"])

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Tree logits ``(...,)`` for ``features`` ``(..., columns or more)``; 0 where no ATG starts."""
        flat = features.reshape(-1, features.shape[-1])
        out = np.zeros(len(flat), dtype=np.float32)
        atg = np.flatnonzero(flat[:, _IS_ATG] > 0)
        if len(atg):
            rows = np.ascontiguousarray(flat[atg, : self.columns], dtype=np.float32)
            out[atg] = self.session.run(None, {"features": rows})[0][:, 0]
        return out.reshape(features.shape[:-1])


def with_tree_column(features: np.ndarray, scorer: TreeScorer | None) -> np.ndarray:
    """``features`` with the trees' logit appended as a last column (unchanged when ``scorer`` is None)."""
    if scorer is None:
        return features
    return np.concatenate([features, scorer(features)[..., None]], axis=-1)
