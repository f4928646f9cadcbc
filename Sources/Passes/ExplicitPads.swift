// explicit-pads: a windowed op's auto_pad becomes the pads it stands for once its input's
// extents are known, so that everything after canonicalization reads one form.
import IR
import Reference

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
                let pads = Self.pads(node, graph)
            else { continue }
            graph.nodes[i].attributes["auto_pad"] = nil
            graph.nodes[i].attributes["pads"] = .ints(pads)
            stats.add(mode)
        }
        return stats
    }

    /// The pads (each spatial axis's start, then each one's end) `node`'s auto_pad stands
    /// for, as the interpreter's window geometry gives them; nil when an extent is unknown
    /// or the explicit form would change the output's extents.
    private static func pads(_ node: Node, _ graph: Graph) -> [Int]? {
        guard let x = node.input(0), let dims = graph.type(of: x)?.shape?.dims, dims.count >= 3 else { return nil }
        let input = dims.dropFirst(2).compactMap(\.value)
        guard input.count == dims.count - 2 else { return nil }
        let kernel: [Int]
        if node.op == "Conv" {
            guard let w = node.input(1), let extents = graph.type(of: w)?.shape?.dims.dropFirst(2).compactMap(\.value),
                extents.count == input.count
            else { return nil }
            kernel = extents
        } else {
            guard let k = node.ints("kernel_shape") else { return nil }
            kernel = k
        }
        let ceilMode = node.op != "Conv" && node.int("ceil_mode", default: 0) != 0
        guard let given = try? WindowGeometry(node: node, input: input, kernel: kernel, ceilMode: ceilMode) else {
            return nil
        }
        var explicit = node
        explicit.attributes["auto_pad"] = nil
        explicit.attributes["pads"] = .ints(given.padBegin + given.padEnd)
        guard let check = try? WindowGeometry(node: explicit, input: input, kernel: kernel, ceilMode: ceilMode),
            check.output == given.output
        else { return nil }
        return given.padBegin + given.padEnd
    }
}
