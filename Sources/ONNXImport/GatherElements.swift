// GatherElements (torch.gather), imported as the Gather it is: each index names one element
// along the axis, its other coordinates are its own position, so with the data's strides it
// is a flat index into the data read as one column, and a Gather along axis 0 reads the
// elements (the NPU's look-ups, one element per index).
import IR

extension ImportContext {
    /// Emits GatherElements `node` (data and indices of one rank, `axis`) as
    /// Gather(Reshape(data, [-1]), index · stride_axis + Σ_(a ≠ axis) position_a · stride_a),
    /// a negative index first moved up by the axis's extent; the positions are Ranges over
    /// the indices' extents, shaped to broadcast along their axes. New nodes are named
    /// `NAME/GatherElements_STEP`.
    mutating func emitGatherElements(_ node: Node) throws {
        guard node.inputs.count == 2, let data = node.input(0), let indices = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else { throw IRError("takes data and indices and gives one output", at: node) }
        let dataRank = rank(of: data)
        guard let rank = rank(of: indices) ?? dataRank, rank > 0 else {
            throw IRError("the rank of the data and indices must be known", at: node)
        }
        if let dataRank, dataRank != rank {
            throw IRError("data of rank \(dataRank) and indices of rank \(rank) differ", at: node)
        }
        let given = node.int("axis", default: 0)
        guard (-rank..<rank).contains(given) else { throw IRError("axis \(given) is out of range for rank \(rank)", at: node) }
        let axis = given < 0 ? given + rank : given
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func scalar(_ v: Int) -> String { addConstant(Tensor(scalar: Int64(v)), hint: "scalar") }
        let dataShape = emit("Shape", "data_shape", [data]), indexShape = emit("Shape", "index_shape", [indices])
        func dataExtent(_ a: Int) -> String {
            emit("Slice", "extent\(a)", [dataShape, int64Constant([a], hint: "start"), int64Constant([a + 1], hint: "end")])
        }
        // stride_(rank-1) = 1, stride_a = stride_(a+1) · extent_(a+1), each a [1] tensor.
        var strides = [int64Constant([1], hint: "stride")]
        for a in stride(from: rank - 2, through: 0, by: -1) {
            strides.insert(emit("Mul", "stride\(a)", [strides[0], dataExtent(a + 1)]), at: 0)
        }
        let wrapped = emit(
            "Where", "wrapped",
            [emit("Less", "negative", [indices, scalar(0)]), emit("Add", "from_end", [indices, dataExtent(axis)]), indices])
        var flat = emit("Mul", "along_axis", [wrapped, strides[axis]])
        for a in 0..<rank where a != axis {
            let count = emit("Gather", "count\(a)", [indexShape, scalar(a)], ["axis": .int(0)])
            let positions = emit("Range", "positions\(a)", [scalar(0), count, scalar(1)])
            var shape = [Int](repeating: 1, count: rank)
            shape[a] = -1
            let shaped = emit("Reshape", "positions\(a)_shaped", [positions, int64Constant(shape, hint: "shape")])
            flat = emit("Add", "at\(a)", [flat, emit("Mul", "offset\(a)", [shaped, strides[a]])])
        }
        let column = emit("Reshape", "column", [data, int64Constant([-1], hint: "column")])
        nodes.append(
            Node(op: "Gather", name: node.name, inputs: [column, flat], outputs: node.outputs, attributes: ["axis": .int(0)]))
    }
}
