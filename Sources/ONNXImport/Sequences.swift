// Sequences whose contents import knows: SequenceConstruct, SequenceEmpty, SequenceInsert and
// SequenceErase build a list of tensor values at import (positions constant), and the ops
// that read one become the tensor ops they amount to: SequenceAt the element (a Gather over
// the stacked elements when the position is only known at run time), SequenceLength a
// constant, ConcatFromSequence a Concat, SplitToSequence a Split. No sequence value reaches
// the IR.
import IR

extension ImportContext {
    /// The ops on sequences.
    static let sequenceOps: Set<String> = [
        "SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceErase", "SequenceAt", "SequenceLength",
        "SplitToSequence", "ConcatFromSequence",
    ]

    /// Emits sequence op `node`: a sequence it makes is recorded in `sequences` as its
    /// elements' values; an op reading one is replaced by tensor ops over them. New nodes are
    /// named `NAME/OP_STEP`.
    mutating func emitSequenceOp(_ node: Node) throws {
        guard node.outputs.count == 1, let out = node.outputs.first, !out.isEmpty else {
            throw IRError("gives one output", at: node)
        }
        /// The elements of the sequence input `index`.
        func elements(_ index: Int) throws -> [String] {
            guard let name = node.input(index) else { throw IRError("needs its sequence input", at: node) }
            guard let list = sequences[name] else {
                throw IRError("reads \"\(name)\", which no sequence op of the model makes", at: node)
            }
            return list
        }
        /// The constant position input `index` (nil when absent).
        func position(_ index: Int, count: Int, range: ClosedRange<Int>) throws -> Int? {
            guard let name = node.input(index) else { return nil }
            guard let tensor = constants[name] else {
                throw IRError(
                    "its position \"\(name)\" is only known at run time; npucc keeps a sequence as a list of values known at import",
                    at: node)
            }
            return try Self.sequencePosition(tensor, count: count, range: range, node)
        }
        switch node.op {
        case "SequenceEmpty":
            sequences[out] = []
        case "SequenceConstruct":
            guard !node.inputs.isEmpty, node.inputs.allSatisfy({ !$0.isEmpty }) else {
                throw IRError("needs at least one tensor", at: node)
            }
            sequences[out] = node.inputs
        case "SequenceInsert":
            var list = try elements(0)
            guard let tensor = node.input(1) else { throw IRError("needs the tensor to insert", at: node) }
            let at = try position(2, count: list.count, range: 0...list.count) ?? list.count
            list.insert(tensor, at: at)
            sequences[out] = list
        case "SequenceErase":
            var list = try elements(0)
            guard !list.isEmpty else { throw IRError("erases from an empty sequence", at: node) }
            let at = try position(1, count: list.count, range: 0...(list.count - 1)) ?? list.count - 1
            list.remove(at: at)
            sequences[out] = list
        case "SequenceLength":
            defineConstant(out, Tensor(scalar: Int64(try elements(0).count)))
        case "SequenceAt":
            try emitSequenceAt(node, elements(0))
        case "ConcatFromSequence":
            let list = try elements(0)
            guard !list.isEmpty else { throw IRError("concatenates an empty sequence", at: node) }
            guard let axis = node.attributes["axis"], case .int(let a) = axis else {
                throw IRError("needs its axis attribute", at: node)
            }
            let parts = node.int("new_axis", default: 0) == 1 ? unsqueezed(list, axis: a, node) : list
            nodes.append(
                Node(op: "Concat", name: node.name, inputs: parts, outputs: [out], attributes: ["axis": .int(a)]))
        default:
            try emitSplitToSequence(node)
        }
    }

    /// SequenceAt: the element itself at a constant position; at a position known only at run
    /// time, a Gather along a new first axis of the elements stacked (they must then share
    /// a shape).
    private mutating func emitSequenceAt(_ node: Node, _ list: [String]) throws {
        guard !list.isEmpty else { throw IRError("reads from an empty sequence", at: node) }
        guard let p = node.input(1) else { throw IRError("needs its position", at: node) }
        if let tensor = constants[p] {
            let at = try Self.sequencePosition(tensor, count: list.count, range: 0...(list.count - 1), node)
            nodes.append(Node(op: "Identity", name: node.name, inputs: [list[at]], outputs: node.outputs))
            return
        }
        let stacked = emitStep(of: node, "Concat", "stacked", unsqueezed(list, axis: 0, node), ["axis": .int(0)])
        let index = emitStep(of: node, "Reshape", "position", [p, int64Constant([], hint: "scalar")])
        nodes.append(
            Node(op: "Gather", name: node.name, inputs: [stacked, index], outputs: node.outputs, attributes: ["axis": .int(0)]))
    }

    /// SplitToSequence: a Split into the parts `split` gives (one extent each, or parts of one
    /// size and a shorter last one), or without `split` into parts of 1 (squeezed away unless
    /// `keepdims`). The part count must be known at import: `split` a constant, and without
    /// a list of sizes the axis's extent (`--input-shape`).
    private mutating func emitSplitToSequence(_ node: Node) throws {
        guard let x = node.input(0), let out = node.outputs.first else { throw IRError("needs its input", at: node) }
        guard let rank = rank(of: x), rank >= 1 else {
            throw IRError("needs an input of known rank, at least 1 (fix symbolic dimensions with --input-shape)", at: node)
        }
        let axis = try normalizedAxis(node.int("axis", default: 0), rank: rank, node)
        /// The split axis's extent, which parts of one size (or of 1) need.
        func extent() throws -> Int {
            guard let e = knownType(of: x)?.shape?.dims[axis].value else {
                throw IRError("needs the extent of axis \(axis) of its input (fix it with --input-shape)", at: node)
            }
            return e
        }
        var sizes: [Int]
        var squeeze = false
        if let split = node.input(1) {
            guard let tensor = constants[split] else {
                throw IRError(
                    "its split \"\(split)\" is only known at run time; the number of parts must be known at import", at: node)
            }
            let values = tensor.int64s().map(Int.init)
            if tensor.shape.isEmpty {
                guard let size = values.first, size > 0 else { throw IRError("split must be positive", at: node) }
                let e = try extent()
                sizes = Array(repeating: size, count: e / size) + (e % size > 0 ? [e % size] : [])
            } else {
                sizes = values
            }
        } else {
            sizes = Array(repeating: 1, count: try extent())
            squeeze = node.int("keepdims", default: 1) == 0
        }
        guard !sizes.isEmpty else { throw IRError("splits an empty axis", at: node) }
        let base = node.name.isEmpty ? out : node.name
        var parts = sizes.indices.map { freshName("\(base)_part\($0)") }
        nodes.append(
            Node(
                op: "Split", name: "\(base)/\(node.op)_split", inputs: [x, int64Constant(sizes, hint: "split")],
                outputs: parts, attributes: ["axis": .int(axis)]))
        if squeeze {
            let axes = int64Constant([axis], hint: "axes")
            parts = parts.enumerated().map { emitStep(of: node, "Squeeze", "element\($0.offset)", [$0.element, axes]) }
        }
        sequences[out] = parts
    }

    /// A constant position of a sequence of `count` elements, negative ones counted from the
    /// end, within `range`.
    private static func sequencePosition(_ tensor: Tensor, count: Int, range: ClosedRange<Int>, _ node: Node) throws
        -> Int
    {
        guard tensor.count == 1, let p = tensor.int64s().first.map(Int.init) else {
            throw IRError("its position must be one integer", at: node)
        }
        let at = p < 0 ? p + count : p
        guard range.contains(at) else { throw IRError("position \(p) is outside a sequence of \(count) elements", at: node) }
        return at
    }

    /// Each of `list` with a new axis `axis` (Unsqueeze steps of `node`).
    private mutating func unsqueezed(_ list: [String], axis: Int, _ node: Node) -> [String] {
        let axes = int64Constant([axis], hint: "axes")
        return list.enumerated().map { emitStep(of: node, "Unsqueeze", "element\($0.offset)", [$0.element, axes]) }
    }
}
