// The IR's health check: every value defined once and before use, graph outputs defined,
// constants consistent with their types, ops known with the right operand counts.

public enum Verifier {
    /// Throws the first problem found, naming the node or value.
    public static func verify(_ graph: Graph) throws {
        var defined = Set<String>()
        func define(_ name: String, _ what: String, node: Node? = nil) throws {
            guard !name.isEmpty else { return }
            guard defined.insert(name).inserted else {
                if let node { throw IRError("value \"\(name)\" is defined twice", at: node) }
                throw IRError("value \"\(name)\" (\(what)) is defined twice")
            }
        }
        for v in graph.inputs { try define(v.name, "graph input") }
        for name in graph.constants.keys.sorted() { try define(name, "constant") }
        for (name, t) in graph.constants where t.storage.byteCount < t.byteCount {
            throw IRError("constant \"\(name)\" holds \(t.storage.byteCount) bytes, less than its type \(t.type) needs")
        }
        for node in graph.nodes {
            guard !node.op.isEmpty else { throw IRError("node has no op", at: node) }
            guard let schema = OpRegistry.schema(node.op) else {
                throw IRError("unknown op \(node.op)", at: node)
            }
            guard schema.inputs.contains(node.inputs.count) else {
                throw IRError("\(node.op) takes \(schema.inputs.describe) inputs, not \(node.inputs.count)", at: node)
            }
            guard schema.outputs.contains(node.outputs.count) else {
                throw IRError("\(node.op) has \(schema.outputs.describe) outputs, not \(node.outputs.count)", at: node)
            }
            for input in node.inputs where !input.isEmpty && !defined.contains(input) {
                throw IRError("input \"\(input)\" is not defined before this node (missing initializer, undefined name, or a cycle)", at: node)
            }
            for output in node.outputs { try define(output, "node output", node: node) }
        }
        for v in graph.outputs where !defined.contains(v.name) {
            throw IRError("graph output \"\(v.name)\" is not defined by any node, input or constant")
        }
    }

    /// `nodes` in an order where every value is defined before use (stable: the given
    /// order is kept where it already works). Throws naming a value on a cycle.
    public static func topologicalOrder(_ nodes: [Node]) throws -> [Node] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if producer[o] != nil { throw IRError("value \"\(o)\" is defined twice", at: n) }
                producer[o] = i
            }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var users = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for input in Set(n.inputs) where !input.isEmpty {
                if let p = producer[input] {
                    pending[i] += 1
                    users[p].append(i)
                }
            }
        }
        var ready = MinHeap((0..<nodes.count).filter { pending[$0] == 0 })
        var order: [Node] = []
        order.reserveCapacity(nodes.count)
        while let i = ready.pop() {
            order.append(nodes[i])
            for u in users[i] {
                pending[u] -= 1
                if pending[u] == 0 { ready.push(u) }
            }
        }
        if order.count < nodes.count, let stuck = pending.indices.first(where: { pending[$0] > 0 }) {
            let value = nodes[stuck].inputs.first { producer[$0].map { pending[$0] > 0 } ?? false } ?? ""
            throw IRError("the graph has a cycle through value \"\(value)\"", at: nodes[stuck])
        }
        return order
    }
}

extension ClosedRange where Bound == Int {
    var describe: String {
        if upperBound == Int.max { return "at least \(lowerBound)" }
        return lowerBound == upperBound ? "\(lowerBound)" : "\(lowerBound) to \(upperBound)"
    }
}

/// A binary min-heap of indices, for the stable topological order.
struct MinHeap {
    private var items: [Int]
    init(_ items: [Int]) {
        self.items = []
        for i in items { push(i) }
    }
    mutating func push(_ x: Int) {
        items.append(x)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if items[p] <= items[c] { break }
            items.swapAt(p, c)
            c = p
        }
    }
    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return top
    }
}
