// The activation memory plan: every value the NPU computes gets a byte range in DRAM or,
// when it fits, in L3 (the global on-chip buffer), and values whose lifetimes do not
// overlap share space. The graph's inputs and outputs stay in DRAM, where the runtime
// reads and writes them. Views (Reshape, Flatten, Squeeze, Unsqueeze, Identity) are the
// same bytes as their input and take none of their own.
import IR
import ISA

/// Where an activation's bytes are: a memory space (`dram` or `l3`) and an address in it.
public struct Place: Sendable, Equatable {
    public var space: MemorySpace
    public var address: UInt64

    public init(_ space: MemorySpace, _ address: UInt64) {
        self.space = space
        self.address = address
    }

    /// The place `bytes` further on.
    public func advanced(by bytes: Int) -> Place { Place(space, address + UInt64(bytes)) }

    /// A descriptor of `dims` (row-major unless `strides` says otherwise) starting here.
    public func descriptor(_ type: ElementType = .f32, dims: [Int], strides: [Int]? = nil) throws -> TensorDescriptor {
        try TensorDescriptor(space, type, address: address, dims: dims, strides: strides)
    }
}

/// Ops whose output's extent depends on the values they read, by what that extent counts.
private let valueSizedOps = [
    "NonZero": "how many elements are not zero", "Compress": "how many slices the condition keeps",
    "NonMaxSuppression": "how many boxes it keeps", "Unique": "how many distinct values it finds",
]

/// Ops whose extents their operands' values give, by operand: when such an operand is not a
/// constant, the extents are known only when the model runs (a TopK whose K the model
/// computes from its input, say).
private let shapeOperands: [String: [(input: Int, name: String)]] = [
    "TopK": [(1, "K")], "Reshape": [(1, "shape")], "Expand": [(1, "shape")], "ConstantOfShape": [(0, "shape")],
    "Tile": [(1, "repeats")], "Range": [(0, "start"), (1, "limit"), (2, "delta")], "OneHot": [(1, "depth")],
    "Slice": [(1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")], "Pad": [(1, "pads")],
    "Resize": [(2, "scales"), (3, "sizes")], "Upsample": [(1, "scales")], "Split": [(1, "split")],
    "CenterCropPad": [(1, "shape")], "Squeeze": [(1, "axes")], "Unsqueeze": [(1, "axes")],
]

/// Why `node`'s output has no static extents, as a clause for the error, and the values to
/// cut the model at (`OpRegistry.graphOutputsHint`): the values it reads when its extent
/// counts what it finds in them (post-processing), or the operand known only at run time
/// that gives its extents (not a graph input, which is no place to cut); none otherwise.
private func unsized(_ node: Node, _ graph: Graph) -> (why: String, reads: [String]) {
    func computed(_ v: String) -> Bool { !v.isEmpty && graph.constants[v] == nil }
    if let counts = valueSizedOps[node.op] {
        return (": \(counts) depends on the values it reads", node.inputs.filter(computed))
    }
    guard let operand = shapeOperands[node.op]?.first(where: { $0.input < node.inputs.count && computed(node.inputs[$0.input]) })
    else { return ("", []) }
    let value = node.inputs[operand.input]
    let input = graph.inputs.contains { $0.name == value }
    return (": its \(operand.name) \"\(value)\" is known only when the model runs", input ? [] : [value])
}

/// Where each activation lives.
public struct MemoryPlan: Sendable, Equatable {
    /// One buffer: the values stored in it (a value and its views), its memory space, its
    /// byte range there and the node indices between which it is live (-1: a graph input;
    /// nodes.count: an output).
    public struct Buffer: Sendable, Equatable {
        public var values: [String]
        public var space: MemorySpace
        public var offset: Int
        public var size: Int
        public var first: Int
        public var last: Int
    }

    public var buffers: [Buffer]
    /// The DRAM bytes the activations need.
    public var size: Int
    /// The L3 bytes the activations need, from `onChipBase` up.
    public var onChipSize: Int
    /// Where in L3 the activations placed there begin: below it, L3 is free for scratch.
    public var onChipBase: Int
    /// What the activations would need without reuse.
    public var unshared: Int
    /// Per node index, the L3 address of the scratch it asked for (`plan`'s `scratch`),
    /// where L3 had room for it.
    public var scratchAt: [Int: UInt64] = [:]
    /// Bytes of the activations L3 could have held (neither a graph input nor an output)
    /// that went to DRAM.
    public var spilled = 0
    private var bufferOf: [String: Int]

    /// Where `value` is, nil for constants and unknown names.
    public func place(of value: String) -> Place? {
        bufferOf[value].map { Place(buffers[$0].space, UInt64(buffers[$0].offset)) }
    }

    static let views: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"]

    /// Plans `graph` (every value's type known and static), aligning each buffer to
    /// `alignment` bytes. Buffers are placed largest first (then by first use, then name),
    /// each at the lowest offset clear of every placed buffer live at the same time: in
    /// L3 when it ends within `onChipBytes` there (and holds no graph input or output),
    /// else in DRAM. The L3 buffers are then moved to the top of L3 (`l3Bytes`), so that
    /// what they leave free is one range from address 0. A value in `writtenAt` is written
    /// by that node (one that lowers the nodes up to the value's own with it) and is live
    /// from there; a value in `unstored` is never written (such a node's intermediate
    /// results) and gets no place. A node in `readAt` is lowered with a later one, at that
    /// index: what it reads is live until there. A node in `scratch` needs that many bytes
    /// of L3 while it runs (a convolution's rounded and padded image), live over the node
    /// indices given (the lowering gives those of the nodes lowered before and after it, so
    /// that neither waits for the other to reuse its bytes): each such range is placed first, where it
    /// fits within `onChipBytes` clear of the others (`scratchAt`); the activations then fit
    /// around them.
    public static func plan(
        _ graph: Graph, alignment: Int = 64, onChipBytes: Int = 0, l3Bytes: Int = 0, writtenAt: [String: Int] = [:],
        unstored: Set<String> = [], readAt: [Int: Int] = [:], scratch: [Int: (bytes: Int, live: ClosedRange<Int>)] = [:]
    ) throws -> MemoryPlan {
        precondition(onChipBytes <= l3Bytes)
        // A value's storage root: itself, or what it is a view of.
        var root: [String: String] = [:]
        var order: [String] = graph.inputs.map(\.name)
        var first: [String: Int] = [:]
        for v in graph.inputs { root[v.name] = v.name; first[v.name] = -1 }
        for (i, node) in graph.nodes.enumerated() {
            for o in node.outputs where !o.isEmpty {
                if Self.views.contains(node.op), let x = node.input(0), let r = root[x] {
                    root[o] = r
                } else if !unstored.contains(o) {
                    root[o] = o
                    first[o] = min(i, writtenAt[o] ?? i)
                    order.append(o)
                }
            }
        }
        var last: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            let at = readAt[i] ?? i
            for v in node.inputs { if let r = root[v] { last[r] = max(last[r] ?? at, at) } }
        }
        var pinned: Set<String> = []
        for v in graph.inputs { pinned.insert(v.name) }
        for v in graph.outputs {
            if let r = root[v.name] {
                last[r] = graph.nodes.count
                pinned.insert(r)
            }
        }
        var members: [String: [String]] = [:]
        for (v, r) in root { members[r, default: []].append(v) }

        var buffers: [Buffer] = []
        for r in order {
            guard let type = graph.type(of: r), let shape = type.shape, shape.dims.allSatisfy({ $0.value != nil }) else {
                // Named after the node that computes it (a TopK whose K comes from the data, say).
                let producer = graph.nodes.first(where: { $0.outputs.contains(r) })
                let (why, reads) = producer.map { unsized($0, graph) } ?? ("", [])
                let message =
                    "value \"\(r)\" has no static type\(why); the NPU's buffers are sized at compile time; "
                    + OpRegistry.graphOutputsHint(reading: reads)
                if let producer { throw IRError(message, at: producer) }
                throw IRError(message)
            }
            // A bool tensor is held as float32 masks (1 and +0) on the NPU.
            let bytes = shape.dims.reduce(type.dtype == .bool ? 4 : type.dtype.byteSize) { $0 * $1.value! }
            let size = (bytes + alignment - 1) / alignment * alignment
            buffers.append(
                Buffer(
                    values: members[r]!.sorted(), space: .dram, offset: 0, size: size, first: first[r]!,
                    last: last[r] ?? first[r]!))
        }
        let placing = buffers.indices.sorted {
            let (a, b) = (buffers[$0], buffers[$1])
            return (a.size, -a.first, a.values[0]) > (b.size, -b.first, b.values[0])
        }
        var placed: [Int] = [], spilled = 0
        // The lowest offset in `space` where buffer i is clear of every placed buffer live with it.
        func lowest(_ i: Int, in space: MemorySpace) -> Int {
            var candidate = 0
            let live = placed.filter {
                buffers[$0].space == space && buffers[$0].first <= buffers[i].last && buffers[i].first <= buffers[$0].last
            }
            .sorted { buffers[$0].offset < buffers[$1].offset }
            for j in live where candidate + buffers[i].size > buffers[j].offset && candidate < buffers[j].offset + buffers[j].size
            {
                candidate = buffers[j].offset + buffers[j].size
            }
            return candidate
        }
        // The scratch ranges, in node order, each at the lowest offset clear of the others.
        var scratchBuffer: [Int: Int] = [:]
        for (node, s) in scratch.sorted(by: { $0.key < $1.key }) {
            let size = (s.bytes + alignment - 1) / alignment * alignment
            guard size > 0 else { continue }
            buffers.append(
                Buffer(
                    values: ["scratch of node \(node)"], space: .l3, offset: 0, size: size, first: s.live.lowerBound,
                    last: s.live.upperBound))
            let at = lowest(buffers.count - 1, in: .l3)
            guard at + size <= onChipBytes else {
                buffers.removeLast()
                continue
            }
            buffers[buffers.count - 1].offset = at
            scratchBuffer[node] = buffers.count - 1
            placed.append(buffers.count - 1)
        }
        for i in placing {
            if !buffers[i].values.contains(where: { pinned.contains($0) }), buffers[i].size <= onChipBytes {
                let at = lowest(i, in: .l3)
                if at + buffers[i].size <= onChipBytes {
                    (buffers[i].space, buffers[i].offset) = (.l3, at)
                    placed.append(i)
                    continue
                }
            }
            (buffers[i].space, buffers[i].offset) = (.dram, lowest(i, in: .dram))
            if !buffers[i].values.contains(where: { pinned.contains($0) }) { spilled += buffers[i].size }
            placed.append(i)
        }
        func extent(_ space: MemorySpace) -> Int {
            buffers.filter { $0.space == space }.map { $0.offset + $0.size }.max() ?? 0
        }
        let onChipSize = extent(.l3)
        let onChipBase = (l3Bytes - onChipSize) / alignment * alignment
        for i in buffers.indices where buffers[i].space == .l3 { buffers[i].offset += onChipBase }
        // The scratch ranges came last: the plan's buffers are the activations'.
        let scratchAt = scratchBuffer.mapValues { UInt64(buffers[$0].offset) }
        buffers.removeLast(scratchBuffer.count)
        var bufferOf: [String: Int] = [:]
        for (i, b) in buffers.enumerated() { for v in b.values { bufferOf[v] = i } }
        return MemoryPlan(
            buffers: buffers, size: extent(.dram), onChipSize: onChipSize, onChipBase: onChipSize > 0 ? onChipBase : l3Bytes,
            unshared: buffers.reduce(0) { $0 + $1.size }, scratchAt: scratchAt, spilled: spilled, bufferOf: bufferOf)
    }
}
