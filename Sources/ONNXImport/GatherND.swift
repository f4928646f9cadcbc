// GatherND, imported as the Gather it is: the k leading axes its index tuples address are
// flattened into one, each tuple becomes the flat index of its row, and a Gather along axis 0
// reads the rows (the look-ups the NPU already does, one row per index). A text encoder's
// pooled token (`x[arange(B), eos_positions]`) exports as one.
import IR

extension ImportContext {
    /// Emits GatherND `node` (data of rank r, indices [..., k] with k known, batch_dims 0) as
    /// Gather(Reshape(data, [-1, data's extents from k on]), Σ_j index_j · stride_j, axis 0),
    /// the strides the products of the extents after j up to k, each negative index first
    /// moved up by its axis's extent. New nodes are named `NAME/GatherND_STEP`.
    mutating func emitGatherND(_ node: Node) throws {
        guard node.inputs.count == 2, let data = node.input(0), let indices = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else { throw IRError("takes data and indices and gives one output", at: node) }
        let batchDims = node.int("batch_dims", default: 0)
        guard batchDims == 0 else { throw IRError("batch_dims \(batchDims) is not supported (only 0)", at: node) }
        guard let k = knownType(of: indices)?.shape?.dims.last?.value, k > 0 else {
            throw IRError("the indices' last extent (the length of each index tuple) must be known", at: node)
        }
        if let r = rank(of: data), k > r { throw IRError("index tuples of \(k) address data of rank \(r)", at: node) }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let addressed = extents(of: data, 0, k, in: node, step: "addressed")
        let wrapped = emit(
            "Where", "wrapped",
            [
                emit("Less", "negative", [indices, int64Scalar(0, hint: "zero")]),
                emit("Add", "from_end", [indices, addressed]), indices,
            ])
        let strides = strides(of: data, over: k, in: node)
        let strideVector = k == 1 ? strides[0] : emit("Concat", "strides", strides, ["axis": .int(0)])
        let flat = emit(
            "ReduceSum", "flat", [emit("Mul", "offsets", [wrapped, strideVector]), int64Constant([-1], hint: "last")],
            ["keepdims": .int(0)])
        let rows = emit(
            "Concat", "rows_shape", [int64Constant([-1], hint: "rows"), extents(of: data, k, Int(Int32.max), in: node, step: "row")], ["axis": .int(0)])
        let table = emit("Reshape", "table", [data, rows])
        nodes.append(
            Node(op: "Gather", name: node.name, inputs: [table, flat], outputs: node.outputs, attributes: ["axis": .int(0)]))
    }
}
