// Einsum of two operands, imported as the MatMul it is: each operand transposed (and given
// unit axes) so that the letters both keep come first, then the letters only one keeps, then
// the one it multiplies over; the product transposed into the output's order. A constant
// operand's transpose folds, so `bld,dh->blh` is a MatMul with constant weights: a layer.
import IR

extension ImportContext {
    /// Emits Einsum `node`: two operands, an explicit output (`->`), each letter at most once
    /// per term, at most one letter multiplied over, no ellipsis. Letters of one operand
    /// only and not in the output are summed first (ReduceSum). Anything else is refused by
    /// name. New nodes are named `NAME/Einsum_STEP`, the last as the node was.
    mutating func emitEinsum(_ node: Node) throws {
        guard node.inputs.count == 2, let a = node.input(0), let b = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else {
            throw IRError("is supported with two operands", at: node)
        }
        guard let equation = node.string("equation")?.filter({ !$0.isWhitespace }) else {
            throw IRError("needs its equation", at: node)
        }
        guard !equation.contains("."), let arrow = equation.range(of: "->") else {
            throw IRError("equation \"\(equation)\" needs an explicit output and no ellipsis", at: node)
        }
        let terms = equation[..<arrow.lowerBound].split(separator: ",", omittingEmptySubsequences: false).map(Array.init)
        let output = Array(equation[arrow.upperBound...])
        guard terms.count == 2, (terms + [output]).allSatisfy({ Set($0).count == $0.count && $0.allSatisfy(\.isLetter) })
        else {
            throw IRError("equation \"\(equation)\" needs two terms and each letter at most once per term", at: node)
        }
        for (term, value) in zip(terms, [a, b]) {
            if let rank = rank(of: value), rank != term.count {
                throw IRError(
                    "operand \"\(value)\" has rank \(rank), its term \"\(String(term))\" \(term.count) letters", at: node)
            }
        }
        guard output.allSatisfy({ terms[0].contains($0) || terms[1].contains($0) }) else {
            throw IRError("equation \"\(equation)\": an output letter is in neither operand", at: node)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        // Sum first the letters only one operand has and the output drops.
        var (left, right) = (terms[0], terms[1])
        var (x, y) = (a, b)
        func summed(_ value: String, _ term: inout [Character], other: [Character], _ step: String) -> String {
            let gone = term.indices.filter { !other.contains(term[$0]) && !output.contains(term[$0]) }
            guard !gone.isEmpty else { return value }
            term = term.enumerated().filter { !gone.contains($0.offset) }.map(\.element)
            return emit("ReduceSum", step, [value, ints(gone, "\(step)_axes")], ["keepdims": .int(0)])
        }
        x = summed(x, &left, other: right, "sum_a")
        y = summed(y, &right, other: left, "sum_b")
        let batch = output.filter { left.contains($0) && right.contains($0) }
        let contracted = left.filter { right.contains($0) && !output.contains($0) }
        let onlyLeft = output.filter { left.contains($0) && !right.contains($0) }
        let onlyRight = output.filter { right.contains($0) && !left.contains($0) }
        guard contracted.count <= 1 else {
            throw IRError("equation \"\(equation)\" multiplies over \(contracted.count) letters; one is supported", at: node)
        }
        // The MatMul's rows (the last letter only the left keeps) and columns (the right's).
        let (rows, columns) = (onlyLeft.last, onlyRight.last)
        let leftExtra = Array(onlyLeft.dropLast()), rightExtra = Array(onlyRight.dropLast())
        // Each operand's axes in MatMul order; nil: a unit axis to insert.
        func some(_ letters: [Character]) -> [Character?] { letters.map { $0 } }
        func none(_ letters: [Character]) -> [Character?] { letters.map { _ in nil } }
        let leftOrder = some(batch) + some(leftExtra) + none(rightExtra) + [rows, contracted.first]
        let rightOrder = some(batch) + none(leftExtra) + some(rightExtra) + [contracted.first, columns]
        func arranged(_ value: String, _ term: [Character], _ order: [Character?], _ step: String) -> String {
            // Leading unit axes before the two matrix axes are left to MatMul's broadcasting
            // (a 2-D weight stays 2-D).
            let leading = order.dropLast(2).prefix { $0 == nil }.count
            let order = Array(order.dropFirst(leading))
            let kept = order.compactMap { $0 }
            let perm = kept.map { term.firstIndex(of: $0)! }
            var v = perm == Array(term.indices) ? value : emit("Transpose", "\(step)_order", [value], ["perm": .ints(perm)])
            let units = order.indices.filter { order[$0] == nil }
            if !units.isEmpty { v = emit("Unsqueeze", "\(step)_units", [v, ints(units, "\(step)_unit_axes")]) }
            return v
        }
        var product = emit(
            "MatMul", "product", [arranged(x, left, leftOrder, "a"), arranged(y, right, rightOrder, "b")])
        // The product's axes: batch, the left's extra letters, the right's, rows, columns.
        var letters = some(batch) + some(leftExtra) + some(rightExtra) + [rows, columns]
        let units = letters.indices.filter { letters[$0] == nil }
        if !units.isEmpty {
            product = emit("Squeeze", "drop_units", [product, ints(units, "unit_axes")])
            letters = letters.filter { $0 != nil }
        }
        let perm = output.map { letter in letters.firstIndex(of: letter)! }
        if perm == Array(perm.indices) {
            nodes.append(Node(op: "Identity", name: node.name, inputs: [product], outputs: node.outputs))
        } else {
            nodes.append(
                Node(
                    op: "Transpose", name: node.name, inputs: [product], outputs: node.outputs, attributes: ["perm": .ints(perm)])
            )
        }
    }
}
