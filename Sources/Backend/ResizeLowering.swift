// Nearest-neighbour Resize as data movement: each output index along an axis reads the source
// slice its index names (IR's ResizeGeometry, which the interpreter also follows), copied
// axis by axis as CopyLowering.swift's copyAlongAxes does, so the result is a copy, bit for
// bit.
import IR
import ISA

extension Lowering {
    /// Lowers nearest Resize `node`; returns the scratch bytes it used at `scratch`.
    static func lowerResize(_ node: Node, _ graph: Graph, _ memory: MemoryPlan, scratch: UInt64, _ b: inout ProgramBuilder)
        throws -> Int
    {
        let (dims, x, y) = try rowOperands(node, graph, memory)
        func constant(_ index: Int) throws -> Tensor? {
            guard let name = node.input(index) else { return nil }
            guard let t = graph.constants[name] else {
                throw IRError("cannot lower Resize whose input \(index) \"\(name)\" is not a constant", at: node)
            }
            return t
        }
        let geometry = try ResizeGeometry(
            node, inputShape: dims, roi: try constant(1)?.cast(to: .float32).floats(),
            scales: try constant(2)?.floats(), sizes: try constant(3)?.int64s().map(Int.init))
        guard geometry.nearest else {
            throw IRError("cannot lower Resize in mode \(node.string("mode", default: "nearest")) yet (nearest only)", at: node)
        }
        return try copyAlongAxes(from: UInt64(x), dims, geometry.lower, to: UInt64(y), scratch: scratch, &b)
    }
}
