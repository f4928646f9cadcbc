// explicit-pads: a windowed op's auto_pad becomes the pads it stands for once its input's
// extents are known, so that everything after canonicalization reads one form.
import IR

/// Rewrites Conv, MaxPool, AveragePool and LpPool nodes with `auto_pad` SAME_UPPER,
/// SAME_LOWER or VALID whose input has known spatial extents: they get the `pads` those
/// extents give (SAME: an output of ceil(input / stride), the padding it needs split evenly,
/// the odd one at the end for SAME_UPPER and at the start for SAME_LOWER; VALID: none) and
/// lose `auto_pad`.
///
/// Requires: a verified graph with types inferred.
/// Guarantees: each rewritten node computes the same output as before; a pooling node with
/// `ceil_mode` is rewritten only where its explicit pads give the same output extents.
/// Leaves alone: ConvTranspose (its auto_pad places the padding of a spread-out input,
/// which its own geometry resolves), nodes whose input extents or kernel are not known, and
/// any other `auto_pad` value (the interpreter and the lowering name it).
public struct ExplicitPads: Pass {
    public let tag = "explicit-pads"
    public let summary = "Replace auto_pad by the pads it stands for"

    public init() {}

    static let ops: Set<String> = ["Conv", "MaxPool", "AveragePool", "LpPool"]

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            guard Self.ops.contains(node.op), node.domain.isEmpty || node.domain == "ai.onnx",
                let mode = node.string("auto_pad"), ["SAME_UPPER", "SAME_LOWER", "VALID"].contains(mode),
                let pads = Self.pads(node, graph, mode: mode)
            else { continue }
            graph.nodes[i].attributes["auto_pad"] = nil
            graph.nodes[i].attributes["pads"] = .ints(pads)
            stats.add(mode)
        }
        return stats
    }

    /// The pads (each spatial axis's start, then each one's end) `mode` gives `node`; nil
    /// when an extent is unknown or the explicit form would change the output's extents.
    private static func pads(_ node: Node, _ graph: Graph, mode: String) -> [Int]? {
        guard let x = node.input(0), let dims = graph.type(of: x)?.shape?.dims, dims.count >= 3 else { return nil }
        let input = dims.dropFirst(2).compactMap(\.value)
        let r = input.count
        guard r == dims.count - 2 else { return nil }
        let kernel: [Int]
        if node.op == "Conv" {
            guard let w = node.input(1), let wd = graph.type(of: w)?.shape?.dims, wd.count == r + 2 else { return nil }
            let extents = wd.dropFirst(2).compactMap(\.value)
            guard extents.count == r else { return nil }
            kernel = extents
        } else {
            guard let k = node.ints("kernel_shape") else { return nil }
            kernel = k
        }
        let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        let dilations = node.ints("dilations") ?? Array(repeating: 1, count: r)
        guard kernel.count == r, strides.count == r, dilations.count == r,
            (kernel + strides + dilations).allSatisfy({ $0 > 0 })
        else { return nil }
        let ceilMode = node.op != "Conv" && node.int("ceil_mode", default: 0) != 0
        var begin: [Int] = [], end: [Int] = []
        for d in 0..<r {
            let extent = (kernel[d] - 1) * dilations[d] + 1
            let out: Int, total: Int
            if mode == "VALID" {
                out = (input[d] - extent) / strides[d] + 1
                total = 0
            } else {
                out = (input[d] + strides[d] - 1) / strides[d]
                total = max(0, (out - 1) * strides[d] + extent - input[d])
            }
            let start = mode == "SAME_LOWER" ? total - total / 2 : total / 2
            // The extents the explicit pads give, as the interpreter computes them.
            let span = input[d] + total - extent
            guard out > 0, span >= 0 else { return nil }
            var explicit = (ceilMode ? (span + strides[d] - 1) / strides[d] : span / strides[d]) + 1
            if ceilMode && (explicit - 1) * strides[d] >= input[d] + start { explicit -= 1 }
            guard explicit == out else { return nil }
            begin.append(start)
            end.append(total - start)
        }
        return begin + end
    }
}
