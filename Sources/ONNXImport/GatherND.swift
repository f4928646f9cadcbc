// GatherND, imported as the Gather it is: the k leading axes its index tuples address are
// flattened into one, each tuple becomes the flat index of its row, and a Gather along axis 0
// reads the rows (the look-ups the NPU already does, one row per index). A text encoder's
// pooled token (`x[arange(B), eos_positions]`) exports as one.
import IR

extension ImportContext {
    /// Emits GatherND `node` (data of rank r, indices [..., k] with k known, `batch_dims` b)
    /// as Gather(Reshape(data, [-1, data's extents from b + k on]), Σ_j position_j · stride_j
    /// + Σ_j index_j · stride_(b+j), axis 0): the first b axes of data and indices are one
    /// batch, each position along them (a Range shaped to broadcast) addressing its own part of
    /// the data; the strides the products of the extents after j up to b + k, each negative
    /// index first moved up by its axis's extent. New nodes are named `NAME/GatherND_STEP`.
    mutating func emitGatherND(_ node: Node) throws {
        guard node.inputs.count == 2, let data = node.input(0), let indices = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else { throw IRError("takes data and indices and gives one output", at: node) }
        let b = node.int("batch_dims", default: 0)
        guard let k = knownType(of: indices)?.shape?.dims.last?.value, k > 0, let indexRank = rank(of: indices) else {
            throw IRError("the indices' rank and last extent (the length of each index tuple) must be known", at: node)
        }
        guard b >= 0, b < indexRank else {
            throw IRError("batch_dims \(b) is not below the indices' rank \(indexRank)", at: node)
        }
        if let r = rank(of: data), b + k > r {
            throw IRError("index tuples of \(k) after \(b) batch axes address data of rank \(r)", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let addressed = extents(of: data, b, b + k, in: node, step: "addressed")
        let wrapped = emit(
            "Where", "wrapped",
            [
                emit("Less", "negative", [indices, int64Scalar(0, hint: "zero")]),
                emit("Add", "from_end", [indices, addressed]), indices,
            ])
        let strides = strides(of: data, over: b + k, in: node), tupleStrides = Array(strides[b...])
        let strideVector = k == 1 ? tupleStrides[0] : emit("Concat", "strides", tupleStrides, ["axis": .int(0)])
        var flat = emit(
            "ReduceSum", "flat", [emit("Mul", "offsets", [wrapped, strideVector]), int64Constant([-1], hint: "last")],
            ["keepdims": .int(0)])
        for j in 0..<b {
            // Position j of the batch, [1, .., B_j, .., 1] over the indices' tuples.
            var shape = [Int](repeating: 1, count: indexRank - 1)
            shape[j] = -1
            let count = emit(
                "Squeeze", "batch\(j)_count",
                [extents(of: indices, j, j + 1, in: node, step: "batch\(j)"), int64Constant([0], hint: "axis")])
            let positions = emit(
                "Reshape", "batch\(j)_positions",
                [
                    emit("Range", "batch\(j)_range", [int64Scalar(0, hint: "zero"), count, int64Scalar(1, hint: "one")]),
                    int64Constant(shape, hint: "batch_shape"),
                ])
            flat = emit("Add", "batch\(j)_flat", [flat, emit("Mul", "batch\(j)_offsets", [positions, strides[j]])])
        }
        let rows = emit(
            "Concat", "rows_shape",
            [int64Constant([-1], hint: "rows"), extents(of: data, b + k, Int(Int32.max), in: node, step: "row")],
            ["axis": .int(0)])
        let table = emit("Reshape", "table", [data, rows])
        nodes.append(
            Node(op: "Gather", name: node.name, inputs: [table, flat], outputs: node.outputs, attributes: ["axis": .int(0)]))
    }
}
