// CenterCropPad (opset 18), imported as the Pad it is: each named axis cropped (a negative
// pad) or padded with zeros to its target extent, centred, the odd element at the end.
import IR

extension ImportContext {
    /// Emits CenterCropPad `node` (input_data, a constant `shape` of one target extent per
    /// axis of `axes`, default every axis) as Pad(x, pads) in constant mode: an axis of extent
    /// d with target t gets ⌊(t − d) / 2⌋ before and the rest after when t > d, and the
    /// negative of ⌊(d − t) / 2⌋ and of the rest when t < d; constants when the target and
    /// the named axes' extents are known at import, else computed as the model runs.
    mutating func emitCenterCropPad(_ node: Node) throws {
        guard node.inputs.count == 2, let x = node.input(0), let target = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else { throw IRError("takes input_data and shape and gives one output", at: node) }
        guard let dims = knownType(of: x)?.shape?.dims, !dims.isEmpty else {
            throw IRError("needs an input of known rank, at least 1 (fix symbolic dimensions with --input-shape)", at: node)
        }
        let rank = dims.count
        let axes = try (node.ints("axes") ?? Array(0..<rank)).map { try normalizedAxis($0, rank: rank, node) }
        guard Set(axes).count == axes.count else { throw IRError("axes \(axes) name an axis twice", at: node) }
        guard let given = constants[target], axes.allSatisfy({ dims[$0].value != nil }) else {
            return try emitRunTimeCenterCropPad(node, x, target, rank: rank, axes: axes)
        }
        let extents = given.int64s().map(Int.init)
        guard extents.count == axes.count else {
            throw IRError("shape has \(extents.count) extents for \(axes.count) axes", at: node)
        }
        var pads = [Int](repeating: 0, count: 2 * rank)
        for (a, t) in zip(axes, extents) {
            guard t >= 0 else { throw IRError("target extent \(t) of axis \(a) is negative", at: node) }
            let d = dims[a].value!
            let (before, after) = t >= d ? ((t - d) / 2, t - d - (t - d) / 2) : (-((d - t) / 2), -(d - t - (d - t) / 2))
            (pads[a], pads[rank + a]) = (before, after)
        }
        nodes.append(
            Node(
                op: "Pad", name: node.name, inputs: [x, int64Constant(pads, hint: "pads")], outputs: node.outputs,
                attributes: ["mode": .string("constant")]))
    }

    /// CenterCropPad whose target or input extents are known only at run time: the same pads
    /// computed by ops, t − d split as sign(t − d) · ⌊|t − d| / 2⌋ before and the rest after,
    /// zeros for the axes not named. (Compiling needs them to fold.)
    private mutating func emitRunTimeCenterCropPad(
        _ node: Node, _ x: String, _ target: String, rank: Int, axes: [Int]
    ) throws {
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let extents = emit(
            "Gather", "extents", [emit("Shape", "shape", [x]), int64Constant(axes, hint: "axes")], ["axis": .int(0)])
        let change = emit("Sub", "change", [target, extents])
        let half = emit("Div", "half", [emit("Abs", "magnitude", [change]), int64Scalar(2, hint: "two")])
        let before = emit("Mul", "before", [emit("Sign", "sign", [change]), half])
        let after = emit("Sub", "after", [change, before])
        let zero = int64Constant([0], hint: "zero")
        func piece(_ of: String, _ axis: Int) -> String {
            guard let i = axes.firstIndex(of: axis) else { return zero }
            return emit(
                "Slice", "\(of == before ? "before" : "after")\(axis)",
                [of, int64Constant([i], hint: "start"), int64Constant([i + 1], hint: "end")])
        }
        let pads = emit(
            "Concat", "pads", (0..<rank).map { piece(before, $0) } + (0..<rank).map { piece(after, $0) },
            ["axis": .int(0)])
        nodes.append(
            Node(op: "Pad", name: node.name, inputs: [x, pads], outputs: node.outputs, attributes: ["mode": .string("constant")]))
    }
}
