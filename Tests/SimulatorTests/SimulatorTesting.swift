// What the simulator tests share: float32 bytes, and the quantized reference of a graph.
import Formats
import IR
import Passes
import Reference

func littleEndianBytes(_ t: [Float]) -> [UInt8] {
    t.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
}

/// `graph` (one input "x", one output "y") with its activations fused, pruned 2:4 by
/// magnitude when `sparse`, and quantized to `format` with x's amax; and the interpreter's
/// output for `x`.
func quantizedReference(_ graph: Graph, x: Tensor, format: PrecisionFormat, sparse: Bool) throws -> (Graph, Tensor, Float) {
    let amax = x.floats().map(\.magnitude).max()!
    var g = graph
    var context = PassContext()
    context.quantization = QuantizationPlan(format: format, activationAmax: ["x": amax])
    context.sparsity = sparse ? SparsityPlan(method: .magnitude) : nil
    try Pipeline([InferShapes(), FuseActivation()] + (sparse ? [Prune24()] : []) + [QuantizeLayers()]).run(&g, context)
    return (g, try Interpreter(graph: g).run(["x": x])["y"]!, amax)
}
