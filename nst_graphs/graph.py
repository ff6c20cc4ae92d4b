"""A small ONNX graph builder: every op takes value names and returns value names."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # onnxruntime-training 1.19 and every newer onnxruntime load it
IR_VERSION = 9  # onnxruntime 1.19 loads IR <= 10; onnx >= 1.16 writes newer by default


class GraphBuilder:
    """Accumulates nodes, initializers, inputs and outputs of one graph.

    Each method adds one op and returns the name of its output, so graph code reads like
    the math: `b.reduce_sum(b.square(b.sub(x, target)))`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._counter = 0

    # -- naming and plumbing -------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def skip_past(self, nodes: Sequence[onnx.NodeProto]) -> None:
        """Fresh names from here on never repeat one of `nodes` (taken from another builder's
        graph, named by the same scheme)."""
        for node in nodes:
            for name in (node.name, *node.output):
                stem, _, number = name.rpartition("_")
                if stem and number.isdigit():
                    self._counter = max(self._counter, int(number))

    def op(self, op_type: str, inputs: Sequence[str], output: str | None = None,
           num_outputs: int = 1, **attrs) -> str | list[str]:
        """Add one node; returns its output name (or names when num_outputs > 1)."""
        if output is not None and num_outputs == 1:
            outputs = [output]
        else:
            outputs = [self.fresh(op_type.lower()) for _ in range(num_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=self.fresh(op_type), **attrs))
        return outputs[0] if num_outputs == 1 else outputs

    def const(self, value: np.ndarray | float, hint: str = "const", name: str | None = None) -> str:
        array = np.asarray(value, dtype=np.float32 if np.asarray(value).dtype.kind == "f" else None)
        name = name or self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def input(self, name: str, shape: Sequence[int | str | None]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name

    def output(self, value: str, name: str | None = None,
               shape: Sequence[int | str | None] | None = None) -> str:
        if name is not None and name != value:
            value = self.op("Identity", [value], output=name)
        self.outputs.append(helper.make_tensor_value_info(value, TensorProto.FLOAT, shape))
        return value

    # -- ops -------------------------------------------------------------------------
    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b])

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b])

    def div(self, a: str, b: str) -> str:
        return self.op("Div", [a, b])

    def square(self, x: str) -> str:
        return self.op("Mul", [x, x])

    def reduce_sum(self, x: str, axes: Sequence[int] | None = None, keepdims: bool = False) -> str:
        """Sum over `axes` (every element, as a scalar, when None)."""
        if axes is None:
            return self.op("ReduceSum", [x], keepdims=int(keepdims))
        return self.op("ReduceSum", [x, self.const(np.array(axes, dtype=np.int64), "axes")], keepdims=int(keepdims))

    def reduce_mean(self, x: str) -> str:
        """Mean of every element, as a scalar."""
        return self.op("ReduceMean", [x], keepdims=0)

    def precise_sum(self, x: str, rank: int) -> str:
        """Sum of every element of a rank-`rank` float tensor, as a float scalar, accurate to
        ~1e-6 at any size: float32 sums of one row, then of one column of row sums (thousands
        of values each, where float32 keeps its digits), then the rest in float64. One
        ReduceSum over tens of millions of float32 values drifts by percents."""
        partial = x
        for _ in range(min(2, rank - 1)):
            partial = self.op("ReduceSum", [partial, self.const(np.array([-1], dtype=np.int64), "axes")], keepdims=0)
        wide = self.op("Cast", [partial], to=TensorProto.DOUBLE)
        return self.cast_float(self.op("ReduceSum", [wide], keepdims=0))

    def precise_mean(self, x: str, rank: int) -> str:
        """Mean of every element, summed as `precise_sum` does."""
        return self.div(self.precise_sum(x, rank), self.cast_float(self.op("Size", [x])))

    def matmul(self, a: str, b: str) -> str:
        return self.op("MatMul", [a, b])

    def transpose(self, x: str, perm: Sequence[int]) -> str:
        return self.op("Transpose", [x], perm=list(perm))

    def reshape(self, x: str, shape: Sequence[int]) -> str:
        return self.op("Reshape", [x, self.const(np.array(shape, dtype=np.int64), "shape")])

    def shape(self, x: str) -> str:
        return self.op("Shape", [x])

    def cast_float(self, x: str) -> str:
        return self.op("Cast", [x], to=TensorProto.FLOAT)

    def slice(self, x: str, axis: int, start: int, end: int) -> str:
        consts = [self.const(np.array([v], dtype=np.int64), "slice") for v in (start, end, axis)]
        return self.op("Slice", [x, *consts])

    def conv(self, x: str, kernel: str, bias: str | None, pad: int) -> str:
        inputs = [x, kernel] + ([bias] if bias is not None else [])
        return self.op("Conv", inputs, pads=[pad] * 4)

    def relu(self, x: str, name: str | None = None) -> str:
        return self.op("Relu", [x], output=name)

    def pool(self, x: str, kind: str) -> str:
        op_type = {"max": "MaxPool", "avg": "AveragePool"}[kind]
        return self.op(op_type, [x], kernel_shape=[2, 2], strides=[2, 2])

    # -- finishing -------------------------------------------------------------------
    def model(self, doc: str = "") -> onnx.ModelProto:
        """The graph as a checked model; initializers no node reads (a kernel whose convolution
        was rewritten) are left out."""
        read = {name for node in self.nodes for name in node.input} | {value.name for value in self.outputs}
        initializers = [init for init in self.initializers if init.name in read]
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="nst-ort", doc_string=doc)
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model
