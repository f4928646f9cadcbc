// separable-pools: a MaxPool or AveragePool whose window slides over three axes (a video
// network's or a volume's [N, C, D, H, W]; torchvision's S3D and R(2+1)D, Keras's
// MaxPooling3D) is the pool over each depth's plane, then the pool of that along the depth.
// A window is the product of its axes' ranges, so the maximum over it is the maximum along
// depth of the maxima over the planes; and the mean, the mean along depth of the planes'
// means, each divided by its own count (the window's count of elements is the product of
// its axes' counts, with padding counted or not). The backend's pools slide over two axes.
import IR

/// Rewrites MaxPool and AveragePool nodes over [N, C, D, H, W] of known extents, without
/// auto_pad (explicit-pads runs first) or an Indices output, into: Reshape to
/// [N, C·D, H, W], the pool over (H, W) with the node's kernel, strides, pads, dilations,
/// ceil_mode and count_include_pad on those axes, Reshape to [N, C, D, H'·W'], the pool
/// over (D, 1) with the depth's, Reshape to the output's [N, C, D', H', W'].
///
/// Requires: a verified graph with types inferred.
/// Guarantees: the output's shape, and for MaxPool its values (the same maximum); for
/// AveragePool the same sums and divisors, the sum taken plane first (rounding may differ
/// in the last place from a sum taken in one pass).
/// Leaves alone: pools over one or two axes, nodes with Indices or auto_pad, and nodes whose
/// extents are unknown.
public struct SeparablePools: Pass {
    public let tag = "separable-pools"
    public let summary = "Split a pool over three axes into the pool over planes and the pool along depth"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        var nodes: [Node] = []
        for node in graph.nodes {
            guard ["MaxPool", "AveragePool"].contains(node.op), node.domain.isEmpty || node.domain == "ai.onnx",
                node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy(\.isEmpty), let x = node.input(0),
                let y = node.outputs.first, !y.isEmpty, let dims = graph.type(of: x)?.shape?.concrete, dims.count == 5,
                let out = graph.type(of: y)?.shape?.concrete, out.count == 5,
                node.string("auto_pad", default: "NOTSET") == "NOTSET", let kernel = node.ints("kernel_shape"),
                kernel.count == 3
            else {
                nodes.append(node)
                continue
            }
            let strides = node.ints("strides") ?? [1, 1, 1], dilations = node.ints("dilations") ?? [1, 1, 1]
            let pads = node.ints("pads") ?? [0, 0, 0, 0, 0, 0]
            guard strides.count == 3, dilations.count == 3, pads.count == 6 else {
                nodes.append(node)
                continue
            }
            let base = node.name.isEmpty ? y : node.name
            func shape(_ step: String, _ extents: [Int]) -> String {
                graph.addConstant("\(y)_\(step)_shape", Tensor(extents.map(Int64.init), shape: [extents.count]))
            }
            func emit(
                _ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:],
                into output: String? = nil
            ) -> String {
                let value = output ?? graph.unusedName("\(y)_\(step)")
                nodes.append(
                    Node(
                        op: op, name: graph.unusedName("\(base)/\(step)"), inputs: inputs, outputs: [value],
                        attributes: attributes))
                return value
            }
            /// The node's pool with `kernel`, `strides`, `pads` and `dilations` of two axes.
            func pool(_ step: String, _ input: String, _ k: [Int], _ s: [Int], _ p: [Int], _ d: [Int]) -> String {
                var attributes = node.attributes
                attributes["kernel_shape"] = .ints(k)
                attributes["strides"] = .ints(s)
                attributes["pads"] = .ints(p)
                attributes["dilations"] = .ints(d)
                return emit(node.op, step, [input], attributes)
            }
            let (n, c, depth, h, w) = (dims[0], dims[1], dims[2], dims[3], dims[4])
            let planes = emit("Reshape", "planes", [x, shape("planes", [n, c * depth, h, w])])
            let pooled = pool(
                "plane_pool", planes, [kernel[1], kernel[2]], [strides[1], strides[2]], [pads[1], pads[2], pads[4], pads[5]],
                [dilations[1], dilations[2]])
            let columns = emit("Reshape", "depth_rows", [pooled, shape("depth_rows", [n, c, depth, out[3] * out[4]])])
            let deep = pool(
                "depth_pool", columns, [kernel[0], 1], [strides[0], 1], [pads[0], 0, pads[3], 0], [dilations[0], 1])
            _ = emit("Reshape", "volume", [deep, shape("volume", out)], into: y)
            stats.add(node.op)
        }
        graph.nodes = nodes
        return stats
    }
}
