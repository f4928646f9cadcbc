// DepthToSpace and SpaceToDepth, imported as the Reshape, Transpose, Reshape they are. The
// shapes come from the input's Shape, so symbolic extents stay symbolic until the
// canonicalize pipeline folds them; once they are known, every later stage (shape
// inference, the interpreter, the lowering's strided DMA) sees ops it already has.
import IR

extension ImportContext {
    /// Emits `node` (DepthToSpace or SpaceToDepth, input [N, C, H, W], `blocksize` b):
    /// - DepthToSpace DCR: [N, b, b, C/b², H, W], axes (0, 3, 4, 1, 5, 2), [N, C/b², H·b, W·b];
    /// - DepthToSpace CRD: [N, C/b², b, b, H, W], axes (0, 1, 4, 2, 5, 3), the same result shape;
    /// - SpaceToDepth DCR: [N, C, H/b, b, W/b, b], axes (0, 3, 5, 1, 2, 4), [N, C·b², H/b, W/b];
    /// - SpaceToDepth CRD (opset 28): the same split, axes (0, 1, 3, 5, 2, 4), the same shape.
    /// The new nodes are named `NAME/OP_STEP` (`up/DepthToSpace_split`), the last Reshape as
    /// the node was. An extent the blocks do not divide makes the first Reshape fail, naming it.
    mutating func emitBlockRearrangement(_ node: Node) throws {
        guard node.inputs.count == 1, let x = node.input(0), node.outputs.count == 1, !node.outputs[0].isEmpty else {
            throw IRError("takes one input and gives one output", at: node)
        }
        guard let b = node.int("blocksize"), b > 0 else { throw IRError("needs a positive blocksize", at: node) }
        if let rank = rank(of: x), rank != 4 {
            throw IRError("rearranges [N, C, H, W] inputs, not rank \(rank)", at: node)
        }
        let block = Int64(b)
        func ints(_ values: [Int64], _ hint: String) -> String { int64Constant(values.map(Int.init), hint: hint) }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let shape = emit("Shape", "shape", [x])
        func extents(_ from: Int64, _ to: Int64, _ step: String) -> String {
            emit("Slice", step, [shape, ints([from], "\(step)_start"), ints([to], "\(step)_end")])
        }
        let batch = extents(0, 1, "batch"), height = extents(2, 3, "height"), width = extents(3, 4, "width")
        let split: String, merged: String, perm: [Int]
        let mode = node.string("mode", default: "DCR")
        guard mode == "DCR" || mode == "CRD" else { throw IRError("mode \"\(mode)\" is neither DCR nor CRD", at: node) }
        if node.op == "DepthToSpace" {
            let blocks = mode == "DCR" ? [block, block, -1] : [-1, block, block]
            split = emit("Concat", "split_shape", [batch, ints(blocks, "blocks"), height, width], ["axis": .int(0)])
            perm = mode == "DCR" ? [0, 3, 4, 1, 5, 2] : [0, 1, 4, 2, 5, 3]
            let scaled = emit(
                "Mul", "scaled",
                [emit("Concat", "plane", [height, width], ["axis": .int(0)]), ints([block, block], "blocksize")])
            merged = emit("Concat", "merged_shape", [batch, ints([-1], "channels"), scaled], ["axis": .int(0)])
        } else {
            let channels = extents(1, 2, "channels")
            let divisor = ints([block], "blocksize")
            let rows = emit("Div", "rows", [height, divisor]), columns = emit("Div", "columns", [width, divisor])
            split = emit(
                "Concat", "split_shape", [batch, channels, rows, divisor, columns, divisor], ["axis": .int(0)])
            perm = mode == "DCR" ? [0, 3, 5, 1, 2, 4] : [0, 1, 3, 5, 2, 4]
            merged = emit("Concat", "merged_shape", [batch, ints([-1], "channels"), rows, columns], ["axis": .int(0)])
        }
        let blocks = emit("Reshape", "split", [x, split])
        let moved = emit("Transpose", "move", [blocks], ["perm": .ints(perm)])
        nodes.append(Node(op: "Reshape", name: node.name, inputs: [moved, merged], outputs: node.outputs))
    }
}
