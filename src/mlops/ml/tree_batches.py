"""A second path through a converted tree ensemble, taken by large batches.

onnxruntime's tree-ensemble kernel scores rows in blocks of 128 and walks every tree of the ensemble
for each block, so on a large batch each tree comes back into the CPU caches once per block. One
kernel per tree walks all rows through that tree while it stays in the fastest cache, which scores a
10,000-row batch of a 100-tree forest several times faster (docs/performance.md, "Batches"). One
kernel per tree costs about a microsecond each on a single row, so the graph keeps the original
kernel for small batches: an ``If`` on the batch's row count picks the path, and every consumer of
``model.onnx`` (serving, shadow scoring, batch scoring) gets the faster path with no change.

The batch path sums the trees' leaf values with ``Sum`` in tree order, as the original kernel does,
and then finishes the scores the way onnxruntime's kernel does for the ensembles covered here:

- a regressor (``SUM`` or ``AVERAGE``, optional base values, no post transform);
- a classifier without base values or post transform whose leaf weights are all non-negative (random
  forests): with one scored class of two, the probability of the second class ``p`` gives
  ``[1 - p, p]`` and the second label when ``p > 0.5``; with more classes, the sums are the
  probabilities and the label is the first highest.

Other ensembles (gradient-boosting classifiers, whose logistic or softmax transform onnxruntime
computes its own way) keep the single kernel. The parity gate (``mlops.ml.convert``) checks both
paths against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

BATCH_ROWS = 512  # from this many rows the per-tree path is faster (docs/performance.md)
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


def add_batch_path(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its tree ensemble behind an ``If``: the original kernel below ``BATCH_ROWS``
    rows, one kernel per tree from there on. Unchanged when the ensemble is not one covered here."""
    graph = model.graph
    found = [
        i
        for i, node in enumerate(graph.node)
        if node.domain == _ML_DOMAIN and node.op_type in ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
    ]
    if len(found) != 1:
        return model
    index = found[0]
    node = graph.node[index]
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    finish = _finisher(node.op_type, attributes)
    if finish is None:
        return model
    trees = _split_by_tree(attributes)
    if len(trees) < 2:
        return model
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
    batch_branch = helper.make_graph(parts + batch_nodes, f"{_PREFIX}trees", [], batch_outputs)
    row_outputs = [
        helper.make_tensor_value_info(f"{_PREFIX}row_{o.name}", o.type.tensor_type.elem_type, None)
        for o in batch_outputs
    ]
    row_node = onnx.NodeProto()
    row_node.CopyFrom(node)
    del row_node.output[:]
    row_node.output.extend(o.name for o in row_outputs)
    row_branch = helper.make_graph([row_node], f"{_PREFIX}rows", [], row_outputs)
    rows, minimum, large = f"{_PREFIX}rows", f"{_PREFIX}minimum", f"{_PREFIX}large"
    choose = [
        helper.make_node("Shape", [features], [rows], name=rows, start=0, end=1),
        _constant(minimum, np.array([BATCH_ROWS], dtype=np.int64)),
        helper.make_node("GreaterOrEqual", [rows, minimum], [large], name=large),
        helper.make_node(
            "If",
            [large],
            list(node.output),
            name=f"{_PREFIX}if",
            then_branch=batch_branch,
            else_branch=row_branch,
        ),
    ]
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend([*graph.node[:index], *choose, *graph.node[index + 1 :]])
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
    if _text(attributes.get("post_transform", b"NONE")) != "NONE":
        return None
    if op_type == "TreeEnsembleRegressor":
        return _regressor(attributes)
    return _classifier(attributes)


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


def _classifier(attributes: dict[str, Any]) -> _Finisher | None:
    if attributes.get("base_values") or min(attributes.get("class_weights", [0.0])) < 0:
        return None
    strings = [_text(s) for s in attributes.get("classlabels_strings", [])]
    integers = list(attributes.get("classlabels_int64s", []))
    classes = len(strings) or len(integers)
    scored = set(attributes.get("class_ids", []))
    label_values: onnx.TensorProto = (
        helper.make_tensor(f"{_PREFIX}classes", onnx.TensorProto.STRING, [classes], _encoded(strings))
        if strings
        else numpy_helper.from_array(np.array(integers, dtype=np.int64), f"{_PREFIX}classes")
    )
    label_type = onnx.TensorProto.STRING if strings else onnx.TensorProto.INT64
    if classes == 2 and len(scored) == 1:
        return _Finisher(1, lambda _class: 0, lambda total, _trees: _binary(total, label_values, label_type))
    if classes > 2:
        return _Finisher(
            classes, lambda target: target, lambda total, _trees: _multiclass(total, label_values, label_type)
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
