// Nearest-neighbour Resize as data movement: axis by axis, each output index along the axis
// is one DMA of the source slice its index names (IR's ResizeGeometry, which the interpreter
// also follows), so the result is a copy, bit for bit. Axes the resize leaves alone cost
// nothing; between two resized axes the partial result goes through DRAM scratch.
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
        let axes = dims.indices.filter { geometry.lower[$0] != Array(0..<dims[$0]) }
        var shape = dims, source = UInt64(x), scratchBytes = 0
        if axes.isEmpty {
            try b.emit(
                "dma",
                [
                    "dst": b.descriptor(try TensorDescriptor(.dram, .f32, address: UInt64(y), dims: [dims.reduce(1, *)])),
                    "src": b.descriptor(try TensorDescriptor(.dram, .f32, address: UInt64(x), dims: [dims.reduce(1, *)])),
                ])
        }
        for (step, axis) in axes.enumerated() {
            var next = shape
            next[axis] = geometry.outputShape[axis]
            // The last axis writes the output; earlier ones alternate between two scratch halves.
            let half = (next.reduce(1, *) * 4 + 63) / 64 * 64
            let target = step == axes.count - 1 ? UInt64(y) : scratch + UInt64(step % 2 * half)
            if step < axes.count - 1 { scratchBytes = max(scratchBytes, 2 * half) }
            let (from, to) = (TensorDescriptor.rowMajor(shape), TensorDescriptor.rowMajor(next))
            var slice = shape
            slice.remove(at: axis)
            let (fromStrides, toStrides) = (dropping(from, axis), dropping(to, axis))
            for (o, i) in geometry.lower[axis].enumerated() {
                let src = try TensorDescriptor(
                    .dram, .f32, address: source + UInt64(4 * i * from[axis]), dims: slice, strides: fromStrides)
                let dst = try TensorDescriptor(
                    .dram, .f32, address: target + UInt64(4 * o * to[axis]), dims: slice, strides: toStrides)
                try b.emit("dma", ["dst": b.descriptor(dst), "src": b.descriptor(src)])
            }
            (shape, source) = (next, target)
        }
        return scratchBytes
    }

    private static func dropping(_ strides: [Int], _ axis: Int) -> [Int] {
        var s = strides
        s.remove(at: axis)
        return s
    }
}
