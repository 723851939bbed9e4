"""The bulk graph of a converted tree ensemble: ``model.bulk.onnx``, taken by large batches.

onnxruntime's tree-ensemble kernel scores rows in blocks of 128 and walks every tree of the ensemble
for each block, so on a large batch each tree comes back into the CPU caches once per block. One
kernel per tree walks all rows through that tree while it stays in the fastest cache, which scores a
10,000-row batch of a 100-tree forest several times faster (docs/performance.md, "Batches"). One
kernel per tree costs about a microsecond each on a single row, and a session of a hundred kernels
takes longer to build, so the bulk graph is a second artifact beside ``model.onnx``: serving builds
its session only when a large request first comes (``mlops.serving.model_store``), so a cold start
and the one-row requests never pay for it, and batch scoring uses it throughout.

The batch path sums the trees' leaf values with ``Sum`` in tree order, as the original kernel does on
one thread, and then finishes the scores the way onnxruntime's kernel does for the ensembles the
pipeline trains:

- a regressor (``SUM`` or ``AVERAGE``, optional base values, no post transform): the same values bit
  for bit;
- a forest classifier (no base values, no post transform, non-negative leaf weights): with one scored
  class of two, ``p`` gives ``[1 - p, p]`` and the second label when ``p > 0.5``; with more classes,
  the sums are the probabilities and the label is the first highest. The same outputs bit for bit;
- a boosted classifier (raw scores plus base values): the second label where ``s > 0`` and
  onnxruntime's logistic ``[L(-s), L(s)]``, or the first highest score and the softmax. The same
  labels; a probability may differ in its last bit (``Exp`` is not onnxruntime's ``std::exp``).

Anything else has no bulk graph. The parity gate (``mlops.ml.convert``) checks both graphs against
scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

_ML_DOMAIN = "ai.onnx.ml"
_PREFIX = "batch_path_"
# Attributes the per-tree kernels take over from the original node, tree by tree.
_NODE_FIELDS = (
    "nodes_falsenodeids",
    "nodes_featureids",
    "nodes_missing_value_tracks_true",
    "nodes_modes",
    "nodes_nodeids",
    "nodes_truenodeids",
    "nodes_values",
)


def bulk_model(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """``model`` with its tree ensemble scored one kernel per tree; None when the graph holds no
    ensemble covered here (a linear model, an unusual post transform, a single tree)."""
    graph = model.graph
    found = [
        i
        for i, node in enumerate(graph.node)
        if node.domain == _ML_DOMAIN and node.op_type in ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
    ]
    if len(found) != 1:
        return None
    index = found[0]
    node = graph.node[index]
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    finish = _finisher(node.op_type, attributes)
    if finish is None:
        return None
    trees = _split_by_tree(attributes)
    if len(trees) < 2:
        return None
    features = node.input[0]
    targets, weight_targets = finish.targets, finish.weight_targets
    parts: list[onnx.NodeProto] = []
    for k, tree in enumerate(trees):
        kernel: dict[str, Any] = {
            name: tree[name] for name in (*_NODE_FIELDS, "nodes_treeids") if name in tree
        }
        kernel.update(
            n_targets=targets,
            aggregate_function="SUM",
            post_transform="NONE",
            target_ids=[weight_targets(i) for i in tree["target_ids"]],
            target_nodeids=tree["target_nodeids"],
            target_treeids=tree["target_treeids"],
            target_weights=tree["target_weights"],
        )
        name = f"{_PREFIX}tree_{k}"
        parts.append(
            helper.make_node(
                "TreeEnsembleRegressor", [features], [name], name=name, domain=_ML_DOMAIN, **kernel
            )
        )
    total = f"{_PREFIX}sum"
    parts.append(helper.make_node("Sum", [p.output[0] for p in parts], [total], name=total))
    batch_nodes, batch_outputs = finish.build(total, len(trees))
    # The finished scores take the original node's output names, so the rest of the graph (casts,
    # the outputs) is unchanged.
    renamed = [
        helper.make_node("Identity", [built.name], [original], name=f"{_PREFIX}{original}")
        for built, original in zip(batch_outputs, node.output, strict=True)
    ]
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend([*graph.node[:index], *parts, *batch_nodes, *renamed, *graph.node[index + 1 :]])
    return out


Built = tuple[list[onnx.NodeProto], list[onnx.ValueInfoProto]]


class _Finisher:
    """How the summed leaf values become the node's outputs: ``targets`` sums per row, the target of
    each leaf weight's class, and ``build(sum, trees)`` the nodes that finish them."""

    def __init__(
        self, targets: int, weight_targets: Callable[[int], int], build: Callable[[str, int], Built]
    ) -> None:
        self.targets = targets
        self.weight_targets = weight_targets
        self.build = build


def _finisher(op_type: str, attributes: dict[str, Any]) -> _Finisher | None:
    if any(name.endswith("_as_tensor") for name in attributes):
        return None  # double-precision ensembles: not produced for these models
    transform = _text(attributes.get("post_transform", b"NONE"))
    if op_type == "TreeEnsembleRegressor":
        return _regressor(attributes) if transform == "NONE" else None
    return _classifier(attributes, transform)


def _regressor(attributes: dict[str, Any]) -> _Finisher | None:
    targets = int(attributes.get("n_targets", 1))
    aggregate = _text(attributes.get("aggregate_function", b"SUM"))
    base = list(attributes.get("base_values", []))
    if aggregate not in ("SUM", "AVERAGE") or (base and len(base) != targets):
        return None

    def build(total: str, trees: int) -> Built:
        nodes: list[onnx.NodeProto] = []
        value = total
        if aggregate == "AVERAGE":
            nodes += [
                _constant(f"{_PREFIX}trees", np.array(float(trees), dtype=np.float32)),
                helper.make_node("Div", [value, f"{_PREFIX}trees"], [f"{_PREFIX}mean"]),
            ]
            value = f"{_PREFIX}mean"
        if base:
            nodes += [
                _constant(f"{_PREFIX}base", np.array(base, dtype=np.float32)),
                helper.make_node("Add", [value, f"{_PREFIX}base"], [f"{_PREFIX}based"]),
            ]
            value = f"{_PREFIX}based"
        out = f"{_PREFIX}values"
        nodes.append(helper.make_node("Identity", [value], [out]))
        return nodes, [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)]

    return _Finisher(targets, lambda target: target, build)


def _classifier(attributes: dict[str, Any], transform: str) -> _Finisher | None:
    strings = [_text(s) for s in attributes.get("classlabels_strings", [])]
    integers = list(attributes.get("classlabels_int64s", []))
    classes = len(strings) or len(integers)
    one_class_scored = len(set(attributes.get("class_ids", []))) == 1
    base = [float(v) for v in attributes.get("base_values", [])]
    non_negative = min(attributes.get("class_weights", [0.0])) >= 0
    label_values: onnx.TensorProto = (
        helper.make_tensor(f"{_PREFIX}classes", onnx.TensorProto.STRING, [classes], _encoded(strings))
        if strings
        else numpy_helper.from_array(np.array(integers, dtype=np.int64), f"{_PREFIX}classes")
    )
    label_type = onnx.TensorProto.STRING if strings else onnx.TensorProto.INT64
    binary = classes == 2 and one_class_scored
    if transform == "NONE" and not base and non_negative and (binary or classes > 2):
        finish = _binary if binary else _multiclass
        return _Finisher(
            1 if binary else classes,
            (lambda _class: 0) if binary else (lambda target: target),
            lambda total, _trees: finish(total, label_values, label_type),
        )
    # Gradient boosting: raw scores, a base value, then the logistic or softmax.
    if transform == "LOGISTIC" and binary and len(base) <= 1 and not non_negative:
        return _Finisher(
            1, lambda _class: 0, lambda total, _trees: _logistic(total, base, label_values, label_type)
        )
    if transform == "SOFTMAX" and classes > 2 and len(base) in (0, classes):
        return _Finisher(
            classes,
            lambda target: target,
            lambda total, _trees: _softmax(total, base, label_values, label_type),
        )
    return None


def _binary(total: str, label_values: onnx.TensorProto, label_type: int) -> Built:
    """``[1 - p, p]`` and the second label where ``p > 0.5``, as onnxruntime finishes a binary forest."""
    p = _PREFIX
    nodes = [
        _constant(f"{p}one", np.array([[1.0]], dtype=np.float32)),
        _constant(f"{p}half", np.array([[0.5]], dtype=np.float32)),
        _constant(f"{p}flat", np.array([-1], dtype=np.int64)),
        helper.make_node("Constant", [], [f"{p}classes"], value=label_values),
        helper.make_node("Sub", [f"{p}one", total], [f"{p}first"]),
        helper.make_node("Concat", [f"{p}first", total], [f"{p}probabilities"], axis=1),
        helper.make_node("Greater", [total, f"{p}half"], [f"{p}second"]),
        helper.make_node("Cast", [f"{p}second"], [f"{p}index_2d"], to=onnx.TensorProto.INT64),
        helper.make_node("Reshape", [f"{p}index_2d", f"{p}flat"], [f"{p}index"]),
        helper.make_node("Gather", [f"{p}classes", f"{p}index"], [f"{p}label"], axis=0),
    ]
    return nodes, _classifier_outputs(label_type)


def _multiclass(total: str, label_values: onnx.TensorProto, label_type: int) -> Built:
    """The sums as probabilities and the first highest class as the label."""
    p = _PREFIX
    nodes = [
        helper.make_node("Constant", [], [f"{p}classes"], value=label_values),
        helper.make_node("Identity", [total], [f"{p}probabilities"]),
        helper.make_node("ArgMax", [total], [f"{p}index"], axis=1, keepdims=0, select_last_index=0),
        helper.make_node("Gather", [f"{p}classes", f"{p}index"], [f"{p}label"], axis=0),
    ]
    return nodes, _classifier_outputs(label_type)


def _logistic(total: str, base: list[float], label_values: onnx.TensorProto, label_type: int) -> Built:
    """A boosted binary classifier: ``s`` the score plus the base value, the second label where
    ``s > 0``, probabilities ``[L(-s), L(s)]`` with onnxruntime's logistic ``L``: ``a = 1 / (1 +
    exp(-|v|))``, ``1 - a`` for a negative ``v``."""
    p = _PREFIX
    nodes = [
        *_based(total, base),
        _constant(f"{p}one", np.array([[1.0]], dtype=np.float32)),
        _constant(f"{p}zero", np.array([[0.0]], dtype=np.float32)),
        _constant(f"{p}flat", np.array([-1], dtype=np.int64)),
        helper.make_node("Constant", [], [f"{p}classes"], value=label_values),
        helper.make_node("Abs", [f"{p}score"], [f"{p}abs"]),
        helper.make_node("Neg", [f"{p}abs"], [f"{p}negabs"]),
        helper.make_node("Exp", [f"{p}negabs"], [f"{p}exp"]),
        helper.make_node("Add", [f"{p}one", f"{p}exp"], [f"{p}denominator"]),
        helper.make_node("Div", [f"{p}one", f"{p}denominator"], [f"{p}a"]),
        helper.make_node("Sub", [f"{p}one", f"{p}a"], [f"{p}one_minus_a"]),
        helper.make_node("Less", [f"{p}score", f"{p}zero"], [f"{p}negative"]),
        helper.make_node("Greater", [f"{p}score", f"{p}zero"], [f"{p}second"]),
        helper.make_node("Where", [f"{p}negative", f"{p}one_minus_a", f"{p}a"], [f"{p}p_second"]),
        helper.make_node("Where", [f"{p}second", f"{p}one_minus_a", f"{p}a"], [f"{p}p_first"]),
        helper.make_node("Concat", [f"{p}p_first", f"{p}p_second"], [f"{p}probabilities"], axis=1),
        helper.make_node("Cast", [f"{p}second"], [f"{p}index_2d"], to=onnx.TensorProto.INT64),
        helper.make_node("Reshape", [f"{p}index_2d", f"{p}flat"], [f"{p}index"]),
        helper.make_node("Gather", [f"{p}classes", f"{p}index"], [f"{p}label"], axis=0),
    ]
    return nodes, _classifier_outputs(label_type)


def _softmax(total: str, base: list[float], label_values: onnx.TensorProto, label_type: int) -> Built:
    """A boosted multi-class classifier: the scores plus the base values, the first highest class, and
    the softmax as onnxruntime computes it (``exp(v - max)`` over their sum)."""
    p = _PREFIX
    nodes = [
        *_based(total, base),
        helper.make_node("Constant", [], [f"{p}classes"], value=label_values),
        helper.make_node("ArgMax", [f"{p}score"], [f"{p}index"], axis=1, keepdims=0, select_last_index=0),
        helper.make_node("Gather", [f"{p}classes", f"{p}index"], [f"{p}label"], axis=0),
        _constant(f"{p}axis", np.array([1], dtype=np.int64)),
        helper.make_node("ReduceMax", [f"{p}score"], [f"{p}max"], axes=[1], keepdims=1),
        helper.make_node("Sub", [f"{p}score", f"{p}max"], [f"{p}shifted"]),
        helper.make_node("Exp", [f"{p}shifted"], [f"{p}exp"]),
        helper.make_node("ReduceSum", [f"{p}exp", f"{p}axis"], [f"{p}total"], keepdims=1),
        helper.make_node("Div", [f"{p}exp", f"{p}total"], [f"{p}probabilities"]),
    ]
    return nodes, _classifier_outputs(label_type)


def _based(total: str, base: list[float]) -> list[onnx.NodeProto]:
    """``score``: the summed leaf values plus the base values, if any."""
    if not base:
        return [helper.make_node("Identity", [total], [f"{_PREFIX}score"])]
    return [
        _constant(f"{_PREFIX}base", np.array(base, dtype=np.float32)),
        helper.make_node("Add", [total, f"{_PREFIX}base"], [f"{_PREFIX}score"]),
    ]


def _classifier_outputs(label_type: int) -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info(f"{_PREFIX}label", label_type, None),
        helper.make_tensor_value_info(f"{_PREFIX}probabilities", onnx.TensorProto.FLOAT, None),
    ]


def _split_by_tree(attributes: dict[str, Any]) -> list[dict[str, list[Any]]]:
    """The node and leaf-weight attributes of each tree, in tree order."""
    weights_prefix = "class" if "class_ids" in attributes else "target"
    node_trees = np.asarray(attributes["nodes_treeids"])
    weight_trees = np.asarray(attributes[f"{weights_prefix}_treeids"])
    trees = []
    for tree in dict.fromkeys(node_trees.tolist()):
        in_tree = np.flatnonzero(node_trees == tree)
        weights = np.flatnonzero(weight_trees == tree)
        part: dict[str, list[Any]] = {
            name: [attributes[name][i] for i in in_tree]
            for name in (*_NODE_FIELDS, "nodes_treeids")
            if name in attributes
        }
        for field, name in (
            ("ids", "target_ids"),
            ("nodeids", "target_nodeids"),
            ("treeids", "target_treeids"),
            ("weights", "target_weights"),
        ):
            values = attributes[f"{weights_prefix}_{field}"]
            part[name] = [values[i] for i in weights]
        trees.append(part)
    return trees


def _constant(name: str, value: np.ndarray[Any, Any]) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=name, value=numpy_helper.from_array(value, name))


def _encoded(strings: list[str]) -> list[Any]:
    return [text.encode() for text in strings]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
