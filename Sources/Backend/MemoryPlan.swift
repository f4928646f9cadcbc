// The activation memory plan: every value the NPU computes gets a DRAM range, and values
// whose lifetimes do not overlap share space. Views (Reshape, Flatten, Squeeze, Unsqueeze,
// Identity) are the same bytes as their input and take none of their own.
import IR

/// Where each activation lives in DRAM.
public struct MemoryPlan: Sendable, Equatable {
    /// One buffer: the values stored in it (a value and its views), its byte range and
    /// the node indices between which it is live (-1: a graph input; nodes.count: an output).
    public struct Buffer: Sendable, Equatable {
        public var values: [String]
        public var offset: Int
        public var size: Int
        public var first: Int
        public var last: Int
    }

    public var buffers: [Buffer]
    /// The DRAM bytes the activations need.
    public var size: Int
    /// What they would need without reuse.
    public var unshared: Int
    private var bufferOf: [String: Int]

    /// The byte offset of `value`, nil for constants and unknown names.
    public func offset(of value: String) -> Int? { bufferOf[value].map { buffers[$0].offset } }

    static let views: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"]

    /// Plans `graph` (every value's type known and static), aligning each buffer to
    /// `alignment` bytes. Buffers are placed largest first (then by first use, then name),
    /// each at the lowest offset clear of every placed buffer live at the same time.
    public static func plan(_ graph: Graph, alignment: Int = 64) throws -> MemoryPlan {
        // A value's storage root: itself, or what it is a view of.
        var root: [String: String] = [:]
        var order: [String] = graph.inputs.map(\.name)
        var first: [String: Int] = [:]
        for v in graph.inputs { root[v.name] = v.name; first[v.name] = -1 }
        for (i, node) in graph.nodes.enumerated() {
            for o in node.outputs where !o.isEmpty {
                if Self.views.contains(node.op), let x = node.input(0), let r = root[x] {
                    root[o] = r
                } else {
                    root[o] = o
                    first[o] = i
                    order.append(o)
                }
            }
        }
        var last: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for v in node.inputs { if let r = root[v] { last[r] = max(last[r] ?? i, i) } }
        }
        for v in graph.outputs { if let r = root[v.name] { last[r] = graph.nodes.count } }
        var members: [String: [String]] = [:]
        for (v, r) in root { members[r, default: []].append(v) }

        var buffers: [Buffer] = []
        for r in order {
            guard let type = graph.type(of: r), let shape = type.shape, shape.dims.allSatisfy({ $0.value != nil }) else {
                throw IRError("value \"\(r)\" has no static type: the NPU's buffers are sized at compile time")
            }
            // A bool tensor is held as float32 masks (1 and +0) on the NPU.
            let bytes = shape.dims.reduce(type.dtype == .bool ? 4 : type.dtype.byteSize) { $0 * $1.value! }
            let size = (bytes + alignment - 1) / alignment * alignment
            buffers.append(
                Buffer(
                    values: members[r]!.sorted(), offset: 0, size: size, first: first[r]!,
                    last: last[r] ?? first[r]!))
        }
        let placing = buffers.indices.sorted {
            let (a, b) = (buffers[$0], buffers[$1])
            return (a.size, -a.first, a.values[0]) > (b.size, -b.first, b.values[0])
        }
        var placed: [Int] = []
        for i in placing {
            var candidate = 0
            let live = placed.filter { buffers[$0].first <= buffers[i].last && buffers[i].first <= buffers[$0].last }
                .sorted { buffers[$0].offset < buffers[$1].offset }
            for j in live where candidate + buffers[i].size > buffers[j].offset && candidate < buffers[j].offset + buffers[j].size
            {
                candidate = buffers[j].offset + buffers[j].size
            }
            buffers[i].offset = candidate
            placed.append(i)
        }
        var bufferOf: [String: Int] = [:]
        for (i, b) in buffers.enumerated() { for v in b.values { bufferOf[v] = i } }
        return MemoryPlan(
            buffers: buffers, size: buffers.map { $0.offset + $0.size }.max() ?? 0,
            unshared: buffers.reduce(0) { $0 + $1.size }, bufferOf: bufferOf)
    }
}
