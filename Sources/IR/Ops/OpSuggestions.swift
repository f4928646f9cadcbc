// The supported operators a user probably meant, for the error on an unknown one: nearest
// names by edit distance, and the plain op inside a fused or vendor name.

extension OpRegistry {
    /// At most `limit` supported operators nearest to `op`, nearest first: those within a
    /// third of its length in case-insensitive edit distance (at least 1), and those of four
    /// letters or more whose name `op` contains ("FastGelu": Gelu, "QLinearConv": Conv).
    public static func closest(to op: String, limit: Int = 3) -> [String] {
        let lowered = op.lowercased(), wanted = Array(lowered)
        let reach = max(1, wanted.count / 3)
        // The longest names inside `op` ("FastGelu" holds Gelu and, within it, Elu: Gelu).
        let onnx = all.filter { $0.domain.isEmpty }
        let inside = onnx.map { $0.name.lowercased() }.filter { $0.count >= 4 && lowered.contains($0) }
        let outermost = Set(inside.filter { name in !inside.contains { $0 != name && $0.contains(name) } })
        var scored: [(distance: Int, name: String)] = []
        for schema in onnx {
            let name = schema.name.lowercased()
            if outermost.contains(name) {
                scored.append((wanted.count - name.count, schema.name))
            } else if !inside.contains(name), case let d = editDistance(wanted, Array(name)), d <= reach {
                scored.append((d, schema.name))
            }
        }
        return scored.sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }.prefix(limit).map(\.name)
    }

    /// How to leave out an op that ends the model (post-processing) and cannot run on the
    /// NPU: end the model before it, at `values` (the ones it reads, when known).
    public static func graphOutputsHint(reading values: [String] = []) -> String {
        let named = values.isEmpty ? "" : " (it reads " + values.map { "\"\($0)\"" }.joined(separator: ", ") + ")"
        return "to compile the model up to the values before it\(named), name them with --graph-outputs"
    }

    /// Levenshtein distance: insertions, deletions and substitutions, one each.
    public static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count), current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
