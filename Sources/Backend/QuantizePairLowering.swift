// A QuantizeLinear / DequantizeLinear pair that a model keeps (an fp8 pair in front of a node
// that is not a layer, a MaxPool or an Add: `import-qdq` folds the others into their layers;
// an integer pair whose result is a graph output) rounds its tensor onto the grid of its
// per-tensor scale s, on the vector unit, block by block, as the two nodes compute it:
// - E4M3 (saturating): x / s rounded at scale 1 (`quant` fp8 with amax 448), times s;
// - int8, uint8, int16, uint16 with zero point z: round(x / s) half to even, plus z,
//   clamped to the type, minus z, times s;
// then NaN put back where the input held one (fp8: NaN; integers: z, which gives 0). The
// codes between the two nodes are never stored.
import Formats
import IR
import ISA

extension Lowering {
    /// The pairs of `graph`: per QuantizeLinear node index, its DequantizeLinear's, when the
    /// DequantizeLinear alone reads the codes (not a graph output), the codes are E4M3
    /// saturating (zero point 0) or int8, uint8, int16 or uint16, and both take the same
    /// per-tensor constant scale and zero point.
    static func quantizePairs(_ graph: Graph) -> [Int: Int] {
        var readers: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for input in Set(n.inputs) where !input.isEmpty { readers[input, default: []].append(i) }
        }
        let outputs = Set(graph.outputs.map(\.name))
        func scale(_ node: Node) -> Float? {
            guard node.inputs.count >= 2, let t = graph.constants[node.inputs[1]], t.dtype == .float32, t.count == 1 else {
                return nil
            }
            return t.floats()[0]
        }
        func zero(_ node: Node) -> Int64? {
            guard node.inputs.count >= 3, !node.inputs[2].isEmpty else { return 0 }
            guard let t = graph.constants[node.inputs[2]], t.count == 1 else { return nil }
            return t.dtype.isInteger ? t.int64s()[0] : (t.floats()[0] == 0 ? 0 : nil)
        }
        let integers: Set<DType> = [.int8, .uint8, .int16, .uint16]
        var pairs: [Int: Int] = [:]
        for (i, q) in graph.nodes.enumerated() where q.op == "QuantizeLinear" {
            guard let codes = q.outputs.first, !outputs.contains(codes), let type = graph.type(of: codes)?.dtype,
                (type == .float8e4m3fn && q.int("saturate", default: 1) != 0 && zero(q) == 0) || integers.contains(type),
                let s = scale(q), s > 0, s.isFinite, let z = zero(q),
                let only = readers[codes], only.count == 1, graph.nodes[only[0]].op == "DequantizeLinear",
                scale(graph.nodes[only[0]])?.bitPattern == s.bitPattern, zero(graph.nodes[only[0]]) == z,
                graph.type(of: graph.nodes[only[0]].outputs[0])?.dtype == .float32
            else { continue }
            pairs[i] = only[0]
        }
        return pairs
    }

    /// Lowers the pair `q` -> `dq`: `q`'s input rounded as the pair rounds it into `dq`'s output.
    static func lowerQuantizePair(
        _ q: Node, _ dq: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources, _ b: inout ProgramBuilder
    ) throws {
        let scale = graph.constants[q.inputs[1]]!.floats()[0]
        let type = graph.type(of: q.outputs[0])!.dtype
        let zero = q.inputs.count >= 3 && !q.inputs[2].isEmpty ? Float(graph.constants[q.inputs[2]]!.int64s()[0]) : 0
        // The integer types' ranges (exact in float32).
        let range = type.quantizedCodeRange.map { (Float($0.0), Float($0.1)) }
        guard let x = memory.place(of: q.inputs[0]), let y = memory.place(of: dq.outputs[0]),
            let dims = graph.type(of: q.inputs[0])?.shape?.dims.compactMap(\.value),
            dims.count == graph.type(of: q.inputs[0])?.shape?.rank
        else {
            throw IRError("cannot lower \(q.op) without a static float32 input and output", at: q)
        }
        let count = dims.reduce(1, *)
        // Four buffers: the input (then x / s), the rounded values, the NaN mask and (for
        // integers) zeros; blocks of whole bursts.
        let block = max(16, resources.sramBytes / 4 / 4 / 16 * 16)
        let fmt = UInt64(InstructionSet.formats.firstIndex(of: PrecisionFormat.fp8.rawValue)!)
        func op(_ name: String) -> UInt64 { UInt64(InstructionSet.vectorOps.firstIndex(of: name)!) }
        let none = UInt64(Float(0).bitPattern)
        for (unit, start) in stride(from: 0, to: count, by: block).enumerated() {
            let n = min(block, count - start)
            let (cluster, tile) = resources.place(unit)
            func sram(_ k: Int) throws -> UInt64 {
                b.descriptor(
                    try TensorDescriptor(.sram, .f32, cluster: cluster, tile: tile, address: UInt64(k * 4 * block), dims: [n]))
            }
            let (input, rounded, mask, zeros) = (try sram(0), try sram(1), try sram(2), try sram(3))
            func scalar(_ name: String, _ dst: UInt64, _ a: UInt64, _ value: Float) throws {
                try b.emit("vop", ["op": op(name), "dst": dst, "a": a, "b": 0, "imm": UInt64(value.bitPattern)])
            }
            try b.emit("dma", ["dst": input, "src": b.descriptor(try x.advanced(by: 4 * start).descriptor(.f32, dims: [n]))])
            // mask = not(x == x): 1 where x is NaN.
            try b.emit("vop", ["op": op("equal"), "dst": mask, "a": input, "b": input, "imm": none])
            try b.emit("vop", ["op": op("not"), "dst": mask, "a": mask, "b": 0, "imm": none])
            try scalar("div_scalar", input, input, scale)
            if let (low, high) = range {
                // round(x / s) + z (adding even a zero z makes -0 the integer 0), clamped, - z, times s.
                try b.emit("vop", ["op": op("round"), "dst": rounded, "a": input, "b": 0, "imm": none])
                try scalar("add_scalar", rounded, rounded, zero)
                try scalar("max_scalar", rounded, rounded, low)
                try scalar("min_scalar", rounded, rounded, high)
                try scalar("add_scalar", rounded, rounded, -zero)
                try scalar("mul_scalar", rounded, rounded, scale)
                // Where x is NaN the code is z: 0. The mask less itself is zeros.
                try b.emit("vop", ["op": op("sub"), "dst": zeros, "a": mask, "b": mask, "imm": none])
                try b.emit("vop", ["op": op("where"), "dst": rounded, "a": mask, "b": zeros, "imm": none])
            } else {
                try b.emit(
                    "quant", ["dst": rounded, "src": input, "fmt": fmt, "amax": UInt64(Float(448).bitPattern), "scale": 0])
                try scalar("mul_scalar", rounded, rounded, scale)
                // Where x is NaN, x / s: NaN.
                try b.emit("vop", ["op": op("where"), "dst": rounded, "a": mask, "b": input, "imm": none])
            }
            try b.emit("dma", ["dst": b.descriptor(try y.advanced(by: 4 * start).descriptor(.f32, dims: [n])), "src": rounded])
        }
    }
}
