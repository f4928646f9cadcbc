// The state of building one IR graph from a GraphProto: constants, declared types, the
// canonical nodes emitted so far, and fresh names for values the rewrites introduce.
import Foundation
import IR

struct ImportContext {
    let opset: Int
    let externalRoot: URL?
    var constants: [String: Tensor] = [:]
    var types: [String: TensorType] = [:]
    /// Types of the values the nodes emitted so far make, from their shape rules, as far as
    /// the declared types and constants tell them; only the rewrites that need an operand's
    /// rank or element type read them (the graph's types come from shape inference later).
    private var emittedTypes: [String: TensorType] = [:]
    /// The symbolic elements of small int64 values the emitted nodes make (`ShapeValues`):
    /// an exporter's Shape -> Gather -> Concat chain gives a Reshape its extents here.
    private var shapeValues: [String: [Dim]] = [:]
    var nodes: [Node] = []
    /// How often each operator appears in the file, as written (Constant included).
    var sourceOpCounts: [String: Int] = [:]
    /// The label of each node that stands for a file's node of another op (the last node
    /// of a decomposition, which writes its output): that node's label as the file spells it.
    var importedAs: [String: String] = [:]
    /// Whether the model computes in half precision (a float16 or bfloat16 graph input, or
    /// such a weight, Constant or cast read by an op other than Cast): its half tensors and
    /// types are imported as float32 (exactly), its casts to half as casts to float32.
    var widensHalf = false
    /// The graph inputs and outputs the file declares half.
    var halfInputs: [String] = [], halfOutputs: [String] = []
    /// The element types the file declares for its graph inputs, initializers and Constant
    /// nodes' values, half ones as half: what a widened model's operand types are checked
    /// against (`operandType`).
    var declaredTypes: [String: DType] = [:]
    /// The values the file's top-level nodes compute: those `--graph-outputs` can end the
    /// model at.
    var fileValues: Set<String> = []
    /// Tensors of 8-bit codes (operator-form quantized models) with their scale and zero point.
    var codeParameters: [String: CodeParameters] = [:]
    /// The DequantizeLinear output of each code tensor read with given parameters.
    var dequantized: [String: String] = [:]
    /// Values import computed to unroll loops and take branches (`evaluated`).
    var evaluatedValues: [String: Tensor] = [:]
    /// The sequences the model builds, each as its elements' values (Sequences.swift).
    var sequences: [String: [String]] = [:]
    private var taken: Set<String> = []
    private var counter = 0

    /// What computes values import must know beyond constants and known shapes (`evaluated`).
    let evaluator: ImportEvaluator?

    init(opset: Int, externalRoot: URL?, evaluator: ImportEvaluator?) {
        self.opset = opset
        self.externalRoot = externalRoot
        self.evaluator = evaluator
    }

    mutating func buildGraph(_ g: ONNXGraph, options: ImportOptions) throws -> Graph {
        for n in g.nodes { taken.formUnion(n.outputs) }
        fileValues = taken
        for v in g.inputs { taken.insert(v.name) }
        if let sparse = g.sparseInitializers.first {
            throw TensorDecodingError("sparse initializer \"\(sparse)\" is not supported")
        }
        for (k, t) in g.initializers.enumerated() {
            guard !t.name.isEmpty else { throw TensorDecodingError("initializer \(k) has no name") }
            guard constants[t.name] == nil else { throw TensorDecodingError("initializer \"\(t.name)\" is defined twice") }
            constants[t.name] = try t.decode(what: "initializer \"\(t.name)\"", externalRoot: externalRoot)
            declaredTypes[t.name] = constants[t.name]?.dtype
            taken.insert(t.name)
        }
        // Half values that are computed with, not only cast (a float32 model may store a
        // weight as float16 and cast it, or round a value to float16 and back: it stays as it is).
        var readers: [String: [String]] = [:]
        for n in g.nodes { for i in n.inputs where !i.isEmpty { readers[i, default: []].append(n.opType) } }
        func computedWith(_ value: String) -> Bool { readers[value]?.contains { $0 != "Cast" } ?? false }
        widensHalf =
            g.inputs.contains { constants[$0.name] == nil && Self.isHalf($0) }
            || constants.contains { $0.value.dtype.isHalf && computedWith($0.key) }
            || g.nodes.contains { n in
                let makesHalf =
                    n.opType == "Constant" && n.attributes.contains { $0.t.map(Self.isHalf) ?? false }
                    || n.opType == "Cast"
                        && n.attributes.contains {
                            $0.name == "to" && $0.i.map { DType(rawValue: Int32($0))?.isHalf == true } ?? false
                        }
                return makesHalf && n.outputs.contains(where: computedWith)
            }
        if widensHalf {
            for (name, t) in constants where t.dtype.isHalf { constants[name] = t.cast(to: .float32) }
            halfInputs = g.inputs.filter { constants[$0.name] == nil && Self.isHalf($0) }.map(\.name)
            halfOutputs = g.outputs.filter(Self.isHalf).map(\.name)
        }
        // Old IR versions list initializers among the inputs: those are constants.
        var inputs: [ValueInfo] = []
        var declared: [(ONNXValueInfo, TensorType)] = []
        for v in g.inputs where constants[v.name] == nil {
            declared.append((v, try declaredType(v, role: "graph input")))
            if case .tensor(let code, _) = v.type, let dtype = DType(rawValue: code) { declaredTypes[v.name] = dtype }
        }
        let bound = Self.boundSymbols(declared.map { ($0.0.name, $0.1) }, options.inputShapes)
        for (v, declaredAs) in declared {
            var type = declaredAs
            if let fixed = options.inputShapes[v.name] {
                type = try override(type, with: fixed, input: v.name)
            } else if let shape = type.shape {
                type = TensorType(
                    type.dtype, Shape(shape.dims.map { d in d.symbolName.flatMap { bound[$0] }.map(Dim.known) ?? d }))
            }
            inputs.append(ValueInfo(name: v.name, type: type))
            types[v.name] = type
        }
        let names = Set(inputs.map(\.name))
        for name in options.inputShapes.keys.sorted() where !names.contains(name) {
            throw TensorDecodingError(
                "--input-shape names \"\(name)\", which is not a graph input (inputs: \(inputs.map(\.name).joined(separator: ", ")))"
            )
        }
        // A graph input's own declaration (with --input-shape applied) wins over a value_info
        // entry for it, which tools that cut models write.
        for v in g.valueInfo where !names.contains(v.name) {
            if case .tensor = v.type, let t = try? declaredType(v, role: "value"), constants[v.name] == nil {
                types[v.name] = t
            }
        }
        var outputs: [ValueInfo] = []
        for v in g.outputs {
            guard !v.name.isEmpty else { throw TensorDecodingError("a graph output has no name") }
            let t = try declaredType(v, role: "graph output", allowUnknownType: true)
            outputs.append(ValueInfo(name: v.name, type: t))
            // An output declared without an element type (or without any type: a value
            // `--graph-outputs` names) is typed by inference alone.
            guard case .tensor(let code, _) = v.type, code != 0 else { continue }
            if t.shape != nil || constants[v.name] == nil { types[v.name] = types[v.name] ?? t }
        }
        codeParameters = QOperators.codeTensors(g.nodes)
        recordDequantizedCodes(g.nodes)
        for n in g.nodes {
            sourceOpCounts[n.opType, default: 0] += 1
            let start = nodes.count
            try importNode(n)
            typeEmittedNodes(from: start)
        }
        if let v = outputs.first(where: { sequences[$0.name] != nil }) {
            throw TensorDecodingError(
                "graph output \"\(v.name)\" is a sequence; only tensors are supported (SequenceAt or ConcatFromSequence makes one of it)"
            )
        }
        return Graph(
            name: g.name.isEmpty ? "main" : g.name, inputs: inputs, outputs: outputs,
            nodes: try Verifier.topologicalOrder(nodes), constants: constants, types: types)
    }

    /// A value's declared tensor type. Graph outputs may leave the element type unset.
    private func declaredType(_ v: ONNXValueInfo, role: String, allowUnknownType: Bool = false) throws -> TensorType {
        switch v.type {
        case .tensor(let code, let dims):
            var dtype = DType(rawValue: code)
            if widensHalf, dtype?.isHalf == true { dtype = .float32 }
            if dtype == nil {
                guard allowUnknownType, code == 0 else {
                    throw TensorDecodingError("\(role) \"\(v.name)\" has unsupported element type \(ONNXDataTypeName(code))")
                }
                dtype = .float32
            }
            let shape = try dims.map { ds in
                Shape(
                    try ds.enumerated().map { (axis, d) -> Dim in
                        switch d {
                        case .value(let x):
                            guard x >= 0 else {
                                throw TensorDecodingError("\(role) \"\(v.name)\" has negative dimension \(x) at axis \(axis)")
                            }
                            guard x <= Int64(Int32.max) else {
                                throw TensorDecodingError("\(role) \"\(v.name)\" has dimension \(x) at axis \(axis), too large")
                            }
                            return .known(Int(x))
                        case .param(let p): return p.isEmpty ? .unknown : .symbol(p)
                        case .unknown: return .unknown
                        }
                    })
            }
            return TensorType(dtype ?? .float32, shape)
        case .other(let kind):
            let article = kind.first.map { "aeiou".contains($0) } == true ? "an" : "a"
            throw TensorDecodingError("\(role) \"\(v.name)\" is \(article) \(kind); only tensors are supported")
        case .missing:
            if allowUnknownType { return TensorType(.float32, nil) }
            throw TensorDecodingError("\(role) \"\(v.name)\" has no type")
        }
    }

    /// What `--input-shape` fixes of each named dimension: a symbol an input given a shape
    /// declares (`batch`, `sequence`) takes that extent in every input that shares it (one
    /// name, one extent, as ONNX's dim_param means); a symbol given two extents is left open.
    static func boundSymbols(_ inputs: [(String, TensorType)], _ fixed: [String: [Int]]) -> [String: Int] {
        var bound: [String: Int] = [:], clashing: Set<String> = []
        for (name, type) in inputs {
            guard let dims = fixed[name], let shape = type.shape, shape.rank == dims.count else { continue }
            for (d, extent) in zip(shape.dims, dims) {
                guard let symbol = d.symbolName else { continue }
                if let other = bound[symbol], other != extent { clashing.insert(symbol) }
                bound[symbol] = extent
            }
        }
        for symbol in clashing { bound[symbol] = nil }
        return bound
    }

    /// Applies `--input-shape`: the rank must match and known dims may not change.
    private func override(_ type: TensorType, with dims: [Int], input: String) throws -> TensorType {
        if let shape = type.shape {
            guard shape.rank == dims.count else {
                throw TensorDecodingError(
                    "--input-shape gives \(dims.count) dimensions for \"\(input)\", whose rank is \(shape.rank) \(shape)")
            }
            for (axis, (d, new)) in zip(shape.dims, dims).enumerated() {
                if let known = d.value, known != new {
                    throw TensorDecodingError(
                        "--input-shape sets axis \(axis) of \"\(input)\" to \(new), but the model fixes it to \(known)")
                }
            }
        }
        return TensorType(type.dtype, Shape(dims))
    }

    /// Whether a declared value or a tensor is float16 or bfloat16.
    static func isHalf(_ v: ONNXValueInfo) -> Bool {
        if case .tensor(let code, _) = v.type { return DType(rawValue: code)?.isHalf == true }
        return false
    }
    static func isHalf(_ t: ONNXTensor) -> Bool { DType(rawValue: t.dataType)?.isHalf == true }

    /// A name no value of the graph uses, built from `hint`.
    mutating func freshName(_ hint: String) -> String {
        while true {
            counter += 1
            let name = "\(hint)__\(counter)"
            if !taken.contains(name) && constants[name] == nil {
                taken.insert(name)
                return name
            }
        }
    }

    /// `preferred` when no value of the graph uses it, else a fresh name built from it.
    mutating func name(preferring preferred: String) -> String {
        guard taken.contains(preferred) || constants[preferred] != nil else {
            taken.insert(preferred)
            return preferred
        }
        return freshName(preferred)
    }

    /// Adds a constant under a fresh name and returns the name.
    mutating func addConstant(_ tensor: Tensor, hint: String) -> String {
        let name = freshName(hint)
        constants[name] = tensor
        return name
    }

    /// A node's output that import computes, as a constant of that name: its type is its
    /// data's, whatever the file declared for it (a graph output's `f32[*]`).
    mutating func defineConstant(_ name: String, _ tensor: Tensor) {
        constants[name] = tensor
        types[name] = nil
    }

    /// An int64 vector constant of `values`.
    mutating func int64Constant(_ values: [Int], hint: String) -> String {
        addConstant(Tensor(values.map(Int64.init), shape: [values.count]), hint: hint)
    }

    /// One step of the ops an imported `node` becomes: `op` of `inputs` into a fresh value,
    /// the node named `NAME/OP_STEP` after `node` (its output's name when it has none), so
    /// an error in it names what it came from. Returns the value.
    mutating func emitStep(
        of node: Node, _ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]
    ) -> String {
        let base = node.name.isEmpty ? node.outputs[0] : node.name
        let out = freshName("\(base)_\(step)")
        nodes.append(Node(op: op, name: "\(base)/\(node.op)_\(step)", inputs: inputs, outputs: [out], attributes: attributes))
        return out
    }

    /// A value's type as far as import knows it: a constant's, a declared one, or the one
    /// an emitted node's shape rule gave.
    func knownType(of value: String) -> TensorType? {
        if let c = constants[value] { return TensorType(c.dtype, Shape(c.shape)) }
        guard let declared = types[value] else { return emittedTypes[value] }
        // An extent the declaration leaves unknown or symbolic is the shape rules' when they
        // know it (a dynamic-batch export fixed by --input-shape).
        guard let inferred = emittedTypes[value], inferred.dtype == declared.dtype, let old = declared.shape,
            let new = inferred.shape, old.rank == new.rank
        else { return declared }
        return TensorType(declared.dtype, Shape(zip(old.dims, new.dims).map { $1.value != nil ? $1 : $0 }))
    }

    /// The element type operand checks see (`OperandTypes`): in a model widened from half,
    /// what the file declares for its inputs, initializers and constants, and nothing for a
    /// computed float32 value, which may stand for a half one; else what import knows.
    func operandType(of value: String) -> DType? {
        let known = knownType(of: value)?.dtype
        guard widensHalf else { return known }
        if let declared = declaredTypes[value] { return declared }
        return known == .float32 ? nil : known
    }

    /// A scalar int64 constant of `value`.
    mutating func int64Scalar(_ value: Int, hint: String) -> String {
        addConstant(Tensor(scalar: Int64(value)), hint: hint)
    }

    /// Extents `from..<to` of `value`'s shape as an int64 vector (a Slice of its Shape), as
    /// steps of `node` named after `step`; folded once the extents are known.
    mutating func extents(of value: String, _ from: Int, _ to: Int, in node: Node, step: String) -> String {
        let shape = emitStep(of: node, "Shape", "\(step)_shape", [value])
        return emitStep(
            of: node, "Slice", step, [shape, int64Constant([from], hint: "start"), int64Constant([to], hint: "end")])
    }

    /// Extent `axis` of `value`'s shape as an int64 scalar (a Squeeze of the Slice of its
    /// Shape), as steps of `node` named after `step`; folded once the extent is known.
    mutating func extent(of value: String, _ axis: Int, in node: Node, step: String) -> String {
        emitStep(
            of: node, "Squeeze", step,
            [extents(of: value, axis, axis + 1, in: node, step: "\(step)_extent"), int64Constant([0], hint: "axis")])
    }

    /// `value` (of rank `rank`) with its axis `axis` moved second to last, the others in
    /// order: a Transpose step of `node` named `STEP_moved`, or `value` itself when the axis
    /// is there already. `movedBack` undoes it.
    mutating func movedSecondToLast(_ value: String, _ axis: Int, rank: Int, in node: Node, step: String) -> String {
        let perm = Self.secondToLast(axis, rank: rank)
        if perm == Array(0..<rank) { return value }
        return emitStep(of: node, "Transpose", "\(step)_moved", [value], ["perm": .ints(perm)])
    }

    /// `value`, whose second to last axis `movedSecondToLast` moved there from `axis`, with
    /// that axis put back (a Transpose step named `STEP_back`, or `value` itself).
    mutating func movedBack(_ value: String, to axis: Int, rank: Int, in node: Node, step: String) -> String {
        let perm = Self.secondToLast(axis, rank: rank)
        if perm == Array(0..<rank) { return value }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return emitStep(of: node, "Transpose", "\(step)_back", [value], ["perm": .ints(inverse)])
    }

    private static func secondToLast(_ axis: Int, rank: Int) -> [Int] {
        var perm = (0..<rank).filter { $0 != axis }
        perm.insert(axis, at: rank - 2)
        return perm
    }

    /// The row-major strides of `value`'s first `count` axes taken alone, each a [1] int64
    /// vector: the last 1, each other the next one times the next axis's extent.
    mutating func strides(of value: String, over count: Int, in node: Node) -> [String] {
        var strides = [int64Constant([1], hint: "stride")]
        for j in stride(from: count - 2, through: 0, by: -1) {
            strides.insert(
                emitStep(
                    of: node, "Mul", "stride\(j)",
                    [strides[0], extents(of: value, j + 1, j + 2, in: node, step: "extent\(j + 1)")]),
                at: 0)
        }
        return strides
    }

    /// `value` split into `count` equal parts along its last axis, by a Split node of `node`
    /// named `NAME/OP_STEP`; returns the parts.
    mutating func emitSplit(of node: Node, _ value: String, into count: Int, step: String) -> [String] {
        let base = node.name.isEmpty ? node.outputs[0] : node.name
        let parts = (0..<count).map { freshName("\(base)_\(step)\($0)") }
        nodes.append(
            Node(
                op: "Split", name: "\(base)/\(node.op)_\(step)", inputs: [value], outputs: parts,
                attributes: ["axis": .int(-1), "num_outputs": .int(count)]))
        return parts
    }

    /// Each index along `axis` of `value`, as an int64 tensor shaped to broadcast against it
    /// (a Range over the axis's extent; the rank must be known unless the axis is the last).
    mutating func positions(along axis: Int, of value: String, _ node: Node) throws -> String {
        var shape: [Int] = [-1]
        if axis != -1 {
            guard let rank = rank(of: value) else {
                throw IRError("axis \(axis) needs the input's rank to be known", at: node)
            }
            guard (-rank..<rank).contains(axis) else { throw IRError("axis \(axis) is out of range for rank \(rank)", at: node) }
            let a = axis < 0 ? axis + rank : axis
            shape = (0..<rank).map { $0 == a ? -1 : 1 }
        }
        let extent = emitStep(
            of: node, "Gather", "extent", [emitStep(of: node, "Shape", "shape", [value]), int64Scalar(axis, hint: "axis")],
            ["axis": .int(0)])
        let range = emitStep(of: node, "Range", "range", [int64Scalar(0, hint: "zero"), extent, int64Scalar(1, hint: "one")])
        return emitStep(of: node, "Reshape", "positions", [range, int64Constant(shape, hint: "shape")])
    }

    /// The rank of a value, when import knows it (`knownType`).
    func rank(of value: String) -> Int? { knownType(of: value)?.shape?.rank }

    /// Types the outputs of `nodes[start...]` by their shape rules (following exporter shape
    /// chains symbolically), where the rule gives one; `knownType` prefers a declared type's
    /// known extents. A rule that fails leaves the outputs untyped here: shape inference
    /// later reports it with the whole graph known.
    mutating func typeEmittedNodes(from start: Int) {
        for node in nodes[start...] where OpRegistry.schema(node.op) != nil {
            let inputTypes = node.inputs.map { $0.isEmpty ? nil : knownType(of: $0) }
            guard
                let outputs = try? ShapeInference.infer(
                    node, inputTypes: inputTypes, constants: constants, tracking: &shapeValues)
            else { continue }
            for (name, type) in zip(node.outputs, outputs) where !name.isEmpty {
                if let type { emittedTypes[name] = type }
            }
        }
    }
}
