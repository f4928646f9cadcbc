// Stable topological ordering of nodes (Kahn's algorithm, smallest original index first),
// for importers of files whose nodes are not sorted; a cycle is reported by its values.

extension Verifier {
    /// `nodes` in an order where every node comes after the producers of its inputs. Among
    /// nodes that are ready, the one first in `nodes` goes first, so a sorted list comes back
    /// unchanged. Inputs no node produces (graph inputs, constants) impose no order. Throws
    /// when a value is produced twice, or naming the values of a cycle.
    public static func topologicalOrder(_ nodes: [Node]) throws -> [Node] {
        var producer: [String: Int] = [:]
        for (i, node) in nodes.enumerated() {
            for output in node.outputs where !output.isEmpty {
                if let earlier = producer.updateValue(i, forKey: output) {
                    throw IRError("value \"\(output)\" is defined twice: by this node and by node \(nodes[earlier].label)",
                                  at: node)
                }
            }
        }
        var waiting = [Int](repeating: 0, count: nodes.count)  // producers not placed yet
        var users = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() {
            for p in Set(node.inputs.compactMap { producer[$0] }) {
                waiting[i] += 1
                users[p].append(i)
            }
        }
        var ready = IndexHeap(nodes.indices.filter { waiting[$0] == 0 })
        var placed = [Bool](repeating: false, count: nodes.count)
        var order: [Node] = []
        order.reserveCapacity(nodes.count)
        while let i = ready.popMin() {
            order.append(nodes[i])
            placed[i] = true
            for u in users[i] {
                waiting[u] -= 1
                if waiting[u] == 0 { ready.insert(u) }
            }
        }
        if let stuck = placed.firstIndex(of: false) {
            throw cycleError(from: stuck, nodes, producer, placed)
        }
        return order
    }

    /// Walks from an unplaced node to an unplaced producer of one of its inputs until a node
    /// repeats; every unplaced node has such a producer, so the walk closes a cycle.
    private static func cycleError(from start: Int, _ nodes: [Node], _ producer: [String: Int],
                                   _ placed: [Bool]) -> IRError {
        var path: [(node: Int, value: String)] = []
        var seen: [Int: Int] = [:]  // node -> position in path
        var current = start
        while seen[current] == nil {
            seen[current] = path.count
            guard let input = nodes[current].inputs.first(where: { producer[$0].map { !placed[$0] } ?? false }),
                  let next = producer[input] else { break }
            path.append((current, input))
            current = next
        }
        let cycle = path[(seen[current] ?? 0)...]
        let values = cycle.reversed().map { "\"\($0.value)\"" }
        let chain = (values + [values.first ?? ""]).joined(separator: " -> ")
        return IRError("the graph has a cycle through values \(chain)", at: nodes[cycle.first?.node ?? start])
    }
}

/// A binary min-heap of node indices: the ready node first in the original order.
private struct IndexHeap {
    private var items: [Int] = []

    init(_ initial: [Int]) { for i in initial { insert(i) } }

    mutating func insert(_ x: Int) {
        items.append(x)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func popMin() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
