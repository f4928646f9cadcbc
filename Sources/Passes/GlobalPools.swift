// global-pools: a MaxPool or AveragePool whose one window covers its whole input is the
// global pool it computes (HF EfficientNet's AvgPool2d(hidden_dim, ceil_mode=True): a
// 1280 x 1280 window over a 7x7 image), so it runs as one, not as a window of a million
// positions most of which lie outside the input.
import IR
import Reference

/// Rewrites MaxPool and AveragePool nodes into GlobalMaxPool and GlobalAveragePool when
/// their input's spatial extents are known, they have no padding, no dilation, no auto_pad
/// (explicit-pads runs first) and no Indices output, and their one output position's window
/// starts at the input's first element and reaches past its last on every spatial axis.
///
/// Requires: a verified graph with types inferred.
/// Guarantees: each rewritten node computes the same output: the maximum, or the mean of
/// every input element (without padding, an average pool divides by the elements inside
/// the input with count_include_pad or without).
/// Leaves alone: windows that pad, dilate or slide, and nodes whose extents are unknown.
public struct GlobalPools: Pass {
    public let tag = "global-pools"
    public let summary = "Turn a pool whose one window covers its input into the global pool"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            guard ["MaxPool", "AveragePool"].contains(node.op), node.domain.isEmpty || node.domain == "ai.onnx",
                node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy(\.isEmpty), Self.coversInput(node, graph)
            else { continue }
            graph.nodes[i] = Node(
                op: "Global" + node.op, name: node.name, inputs: [node.inputs[0]], outputs: [node.outputs[0]])
            stats.add(node.op)
        }
        return stats
    }

    /// True when `node`'s window, unpadded and undilated, gives one output position per axis
    /// and covers every input element.
    private static func coversInput(_ node: Node, _ graph: Graph) -> Bool {
        guard let x = node.input(0), let dims = graph.type(of: x)?.shape?.dims, dims.count >= 3,
            let kernel = node.ints("kernel_shape"), kernel.count == dims.count - 2,
            node.string("auto_pad", default: "NOTSET") == "NOTSET",
            (node.ints("pads") ?? []).allSatisfy({ $0 == 0 }), (node.ints("dilations") ?? []).allSatisfy({ $0 == 1 })
        else { return false }
        let input = dims.dropFirst(2).compactMap(\.value)
        guard input.count == kernel.count, zip(input, kernel).allSatisfy({ $0 <= $1 }) else { return false }
        let ceilMode = node.int("ceil_mode", default: 0) != 0
        guard let geometry = try? WindowGeometry(node: node, input: input, kernel: kernel, ceilMode: ceilMode) else {
            return false
        }
        return geometry.output.allSatisfy { $0 == 1 }
    }
}
