// GatherElements (torch.gather), imported as the Gather it is: each index names one element
// along the axis, its other coordinates are its own position, so with the data's strides it
// is a flat index into the data read as one column, and a Gather along axis 0 reads the
// elements (the NPU's look-ups, one element per index).
import IR

extension ImportContext {
    /// Emits GatherElements `node` (data and indices of one rank, `axis`) as
    /// Gather(Reshape(data, [-1]), index · stride_axis + Σ_(a ≠ axis) position_a · stride_a),
    /// a negative index first moved up by the axis's extent and one still outside the axis
    /// replaced by the data's size (out of the column's range); the positions are Ranges over
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
        let flat = try flatIndices(data, indices, rank: rank, node)
        let column = emitStep(of: node, "Reshape", "column", [data, int64Constant([-1], hint: "column")])
        nodes.append(
            Node(op: "Gather", name: node.name, inputs: [column, flat], outputs: node.outputs, attributes: ["axis": .int(0)]))
    }

    /// The flat index into `data` (read as one column) of each element `indices` names along
    /// `node`'s `axis` (its other coordinates the index's own position): index · stride_axis
    /// + Σ_(a ≠ axis) position_a · stride_a, a negative index first moved up by the axis's
    /// extent and one still outside the axis replaced by the data's size (out of the
    /// column's range, which the Gather or ScatterND reading it refuses).
    mutating func flatIndices(_ data: String, _ indices: String, rank: Int, _ node: Node) throws -> String {
        let axis = try normalizedAxis(node.int("axis", default: 0), rank: rank, node)
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let strides = strides(of: data, over: rank, in: node)
        let zero = int64Scalar(0, hint: "zero"), extent = extents(of: data, axis, axis + 1, in: node, step: "extent\(axis)")
        let wrapped = emit(
            "Where", "wrapped",
            [emit("Less", "negative", [indices, zero]), emit("Add", "from_end", [indices, extent]), indices])
        // An index outside [-extent, extent) would land on another element of the column: it
        // becomes the data's size instead, past the column's end, which the Gather refuses.
        let inside = emit(
            "And", "inside",
            [emit("GreaterOrEqual", "not_below", [wrapped, zero]), emit("Less", "not_beyond", [wrapped, extent])])
        let checked = emit("Where", "checked", [inside, wrapped, emit("Size", "size", [data])])
        var flat = emit("Mul", "along_axis", [checked, strides[axis]])
        for a in 0..<rank where a != axis {
            let shaped = try positions(along: a, of: indices, node)
            flat = emit("Add", "at\(a)", [flat, emit("Mul", "offset\(a)", [shaped, strides[a]])])
        }
        return flat
    }
}
