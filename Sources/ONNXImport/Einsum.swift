// Einsum of one or two operands, imported as the MatMul it is: each operand transposed (and
// given unit axes) so that the letters both keep come first, then the letters only one
// keeps, then those it multiplies over (several merged into one by a Reshape); the product
// transposed into the output's order. A constant operand's transpose folds, so
// `bld,dh->blh` is a MatMul with constant weights: a layer. One operand is a ReduceSum of
// the letters the output drops and a Transpose. An ellipsis stands for the letters of the
// axes the term does not name (right-aligned, as numpy broadcasts them); without `->` the
// output is the ellipsis, then the letters that appear once, in alphabetical order.
import IR

extension ImportContext {
    /// Emits Einsum `node`: one or two operands, each letter at most once per term, an
    /// ellipsis only where the operand's rank is known. Letters of one operand only and not
    /// in the output are summed first (ReduceSum). Anything else is refused by name. New
    /// nodes are named `NAME/Einsum_STEP`, the last as the node was.
    mutating func emitEinsum(_ node: Node) throws {
        guard (1...2).contains(node.inputs.count), !node.inputs.contains(""), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else {
            throw IRError("is supported with one or two operands", at: node)
        }
        guard let equation = node.string("equation")?.filter({ !$0.isWhitespace }) else {
            throw IRError("needs its equation", at: node)
        }
        let arrow = equation.range(of: "->")
        var terms = String(equation[..<(arrow?.lowerBound ?? equation.endIndex)])
            .components(separatedBy: ",")
        guard terms.count == node.inputs.count else {
            throw IRError("equation \"\(equation)\" has \(terms.count) terms for \(node.inputs.count) operands", at: node)
        }
        var outputTerm = arrow.map { String(equation[$0.upperBound...]) }
        // The ellipsis: the letters no term uses, right-aligned over the axes it stands for.
        var ellipsis: [Character] = []
        if equation.contains(".") {
            let unused = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".filter { !equation.contains($0) }
            var counts: [Int] = []
            for (term, value) in zip(terms, node.inputs) where term.contains("...") {
                guard let rank = rank(of: value) else {
                    throw IRError("equation \"\(equation)\": an ellipsis needs operand \"\(value)\"'s rank", at: node)
                }
                counts.append(rank - (term.count - 3))
            }
            guard let widest = counts.max(), counts.allSatisfy({ $0 >= 0 }), widest <= unused.count else {
                throw IRError("equation \"\(equation)\": an ellipsis stands for more axes than its operand has", at: node)
            }
            ellipsis = Array(unused.prefix(widest))
            for (k, value) in node.inputs.enumerated() where terms[k].contains("...") {
                let count = rank(of: value)! - (terms[k].count - 3)
                terms[k] = terms[k].replacingOccurrences(of: "...", with: String(ellipsis.suffix(count)))
            }
            outputTerm = outputTerm?.replacingOccurrences(of: "...", with: String(ellipsis))
        }
        let letters = terms.map(Array.init)
        // Implicit output: the ellipsis, then the letters that appear once, alphabetically.
        let output =
            outputTerm.map(Array.init)
            ?? ellipsis
            + letters.joined().filter { c in !ellipsis.contains(c) && letters.joined().filter { $0 == c }.count == 1 }.sorted()
        guard (letters + [output]).allSatisfy({ Set($0).count == $0.count && $0.allSatisfy(\.isLetter) }) else {
            throw IRError("equation \"\(equation)\" needs each letter at most once per term", at: node)
        }
        for (term, value) in zip(letters, node.inputs) {
            if let rank = rank(of: value), rank != term.count {
                throw IRError(
                    "operand \"\(value)\" has rank \(rank), its term \"\(String(term))\" \(term.count) letters", at: node)
            }
        }
        guard output.allSatisfy({ c in letters.contains { $0.contains(c) } }) else {
            throw IRError("equation \"\(equation)\": an output letter is in no operand", at: node)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        // The last node, named as the Einsum was: `value`'s axes put in the output's order.
        func finish(_ value: String, _ perm: [Int]) {
            nodes.append(
                perm == Array(perm.indices)
                    ? Node(op: "Identity", name: node.name, inputs: [value], outputs: node.outputs)
                    : Node(
                        op: "Transpose", name: node.name, inputs: [value], outputs: node.outputs,
                        attributes: ["perm": .ints(perm)]))
        }
        if letters.count == 1 {
            // One operand: the letters the output drops summed, then the output's order.
            var term = letters[0]
            var value = node.inputs[0]
            let gone = term.indices.filter { !output.contains(term[$0]) }
            if !gone.isEmpty {
                value = emit("ReduceSum", "sum", [value, ints(gone, "sum_axes")], ["keepdims": .int(0)])
                term = term.enumerated().filter { !gone.contains($0.offset) }.map(\.element)
            }
            let perm = output.map { term.firstIndex(of: $0)! }
            finish(value, perm)
            return
        }
        // Sum first the letters only one operand has and the output drops.
        var (left, right) = (letters[0], letters[1])
        var (x, y) = (node.inputs[0], node.inputs[1])
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
        // The MatMul's rows (the last letter only the left keeps) and columns (the right's).
        let (rows, columns) = (onlyLeft.last, onlyRight.last)
        let leftExtra = Array(onlyLeft.dropLast()), rightExtra = Array(onlyRight.dropLast())
        // Each operand's axes in MatMul order; nil: a unit axis to insert. Several letters
        // multiplied over come last in both, to be merged into one; the right's then swaps
        // them with its columns.
        func some(_ letters: [Character]) -> [Character?] { letters.map { $0 } }
        func none(_ letters: [Character]) -> [Character?] { letters.map { _ in nil } }
        let merged = contracted.count > 1
        let leftOrder =
            some(batch) + some(leftExtra) + none(rightExtra) + [rows] + (merged ? some(contracted) : [contracted.first])
        let rightOrder =
            some(batch) + none(leftExtra) + some(rightExtra)
            + (merged ? [columns] + some(contracted) : [contracted.first, columns])
        func arranged(_ value: String, _ term: [Character], _ order: [Character?], _ step: String) -> (String, rank: Int) {
            // Leading unit axes before the two matrix axes are left to MatMul's broadcasting
            // (a 2-D weight stays 2-D).
            let leading = order.dropLast(merged ? contracted.count + 1 : 2).prefix { $0 == nil }.count
            let order = Array(order.dropFirst(leading))
            let kept = order.compactMap { $0 }
            let perm = kept.map { term.firstIndex(of: $0)! }
            var v = perm == Array(term.indices) ? value : emit("Transpose", "\(step)_order", [value], ["perm": .ints(perm)])
            let units = order.indices.filter { order[$0] == nil }
            if !units.isEmpty { v = emit("Unsqueeze", "\(step)_units", [v, ints(units, "\(step)_unit_axes")]) }
            guard merged else { return (v, order.count) }
            // The letters multiplied over, last, as one axis.
            let shape = Array(repeating: 0, count: order.count - contracted.count) + [-1]
            return (emit("Reshape", "\(step)_merged", [v, ints(shape, "\(step)_merged_shape")]), shape.count)
        }
        // A constant right operand with letters of its own besides its columns and none
        // shared with the left but those multiplied over (a multi-head projection,
        // `btd,dhe->bhte`): those letters join its columns, so the weight is one matrix
        // [multiplied over, own letters · columns] and the product a layer, reshaped after.
        if batch.isEmpty, !rightExtra.isEmpty, let rows, let columns, constants[y] != nil,
            let shape = knownType(of: y)?.shape?.concrete
        {
            func extent(_ c: Character) -> Int { shape[right.firstIndex(of: c)!] }
            let weightOrder = contracted + rightExtra + [columns]
            let weightPerm = weightOrder.map { right.firstIndex(of: $0)! }
            let ordered =
                weightPerm == Array(right.indices)
                ? y : emit("Transpose", "weight_order", [y], ["perm": .ints(weightPerm)])
            let weight = emit(
                "Reshape", "weight_matrix",
                [ordered, ints([contracted.map(extent).reduce(1, *), -1], "weight_matrix_shape")])
            let inputOrder = leftExtra + [rows] + contracted
            let inputPerm = inputOrder.map { left.firstIndex(of: $0)! }
            var a = inputPerm == Array(left.indices) ? x : emit("Transpose", "a_order", [x], ["perm": .ints(inputPerm)])
            if merged {
                let merge = Array(repeating: 0, count: leftExtra.count + 1) + [-1]
                a = emit("Reshape", "a_merged", [a, ints(merge, "a_merged_shape")])
            }
            let flat = emit("MatMul", "product", [a, weight])
            let split = Array(repeating: 0, count: leftExtra.count + 1) + rightExtra.map(extent) + [-1]
            let product = emit("Reshape", "product_split", [flat, ints(split, "product_split_shape")])
            let axes = leftExtra + [rows] + rightExtra + [columns]
            let perm = output.map { letter in axes.firstIndex(of: letter)! }
            finish(product, perm)
            return
        }
        var (b, rank) = arranged(y, right, rightOrder, "b")
        if merged {
            b = emit("Transpose", "b_columns", [b], ["perm": .ints(Array(0..<(rank - 2)) + [rank - 1, rank - 2])])
        }
        var product = emit("MatMul", "product", [arranged(x, left, leftOrder, "a").0, b])
        // The product's axes: batch, the left's extra letters, the right's, rows, columns.
        var axes = some(batch) + some(leftExtra) + some(rightExtra) + [rows, columns]
        let units = axes.indices.filter { axes[$0] == nil }
        if !units.isEmpty {
            product = emit("Squeeze", "drop_units", [product, ints(units, "unit_axes")])
            axes = axes.filter { $0 != nil }
        }
        let perm = output.map { letter in axes.firstIndex(of: letter)! }
        finish(product, perm)
    }
}
