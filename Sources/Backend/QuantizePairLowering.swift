// An fp8 QuantizeLinear / DequantizeLinear pair that a model keeps in front of a node that is
// not a layer (a MaxPool, an Add: `import-qdq` folds the others into their layers) rounds
// its tensor onto the E4M3 grid of its scale s: on the vector unit, block by block, x / s
// rounded at scale 1 (`quant` fp8 with amax 448) and multiplied by s, as QuantizeLinear and
// DequantizeLinear compute it; then a NaN put back where the input held one (QuantizeLinear
// keeps NaN, `quant` saturates it). The E4M3 codes between the two are never stored.
import Formats
import IR
import ISA
import Passes

extension Lowering {
    /// The fp8 pairs of `graph`: per QuantizeLinear node index, its DequantizeLinear's, when
    /// the DequantizeLinear alone reads the codes, the codes are E4M3 saturating (not a graph
    /// output) and both take the same per-tensor constant scale and a zero zero point.
    static func fp8Pairs(_ graph: Graph) -> [Int: Int] {
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
        func zero(_ node: Node) -> Bool {
            guard node.inputs.count >= 3, !node.inputs[2].isEmpty else { return true }
            return graph.constants[node.inputs[2]].map { $0.floats().allSatisfy { $0 == 0 } } ?? false
        }
        var pairs: [Int: Int] = [:]
        for (i, q) in graph.nodes.enumerated() where q.op == "QuantizeLinear" {
            guard let codes = q.outputs.first, !outputs.contains(codes), graph.type(of: codes)?.dtype == .float8e4m3fn,
                q.int("saturate", default: 1) != 0, let s = scale(q), s > 0, zero(q),
                let only = readers[codes], only.count == 1, graph.nodes[only[0]].op == "DequantizeLinear",
                scale(graph.nodes[only[0]])?.bitPattern == s.bitPattern, zero(graph.nodes[only[0]]),
                graph.type(of: graph.nodes[only[0]].outputs[0])?.dtype == .float32
            else { continue }
            pairs[i] = only[0]
        }
        return pairs
    }

    /// Lowers the pair `q` -> `dq`: `q`'s input rounded as the pair rounds it into `dq`'s output.
    static func lowerFP8Pair(
        _ q: Node, _ dq: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources, _ b: inout ProgramBuilder
    ) throws {
        let scale = graph.constants[q.inputs[1]]!.floats()[0]
        guard let x = memory.place(of: q.inputs[0]), let y = memory.place(of: dq.outputs[0]),
            let dims = graph.type(of: q.inputs[0])?.shape?.dims.compactMap(\.value),
            dims.count == graph.type(of: q.inputs[0])?.shape?.rank
        else {
            throw IRError("cannot lower \(q.op) without a static float32 input and output", at: q)
        }
        let count = dims.reduce(1, *)
        // Three buffers: the input (then x / s), the rounded values, the NaN mask; blocks of
        // whole bursts.
        let block = max(16, resources.sramBytes / 3 / 4 / 16 * 16)
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
            let (input, rounded, mask) = (try sram(0), try sram(1), try sram(2))
            try b.emit("dma", ["dst": input, "src": b.descriptor(try x.advanced(by: 4 * start).descriptor(.f32, dims: [n]))])
            // mask = not(x == x): 1 where x is NaN; there the result is x / s, NaN.
            try b.emit("vop", ["op": op("equal"), "dst": mask, "a": input, "b": input, "imm": none])
            try b.emit("vop", ["op": op("not"), "dst": mask, "a": mask, "b": 0, "imm": none])
            try b.emit("vop", ["op": op("div_scalar"), "dst": input, "a": input, "b": 0, "imm": UInt64(scale.bitPattern)])
            try b.emit("quant", ["dst": rounded, "src": input, "fmt": fmt, "amax": UInt64(Float(448).bitPattern)])
            try b.emit("vop", ["op": op("mul_scalar"), "dst": rounded, "a": rounded, "b": 0, "imm": UInt64(scale.bitPattern)])
            try b.emit("vop", ["op": op("where"), "dst": rounded, "a": mask, "b": input, "imm": none])
            try b.emit("dma", ["dst": b.descriptor(try y.advanced(by: 4 * start).descriptor(.f32, dims: [n])), "src": rounded])
        }
    }
}
