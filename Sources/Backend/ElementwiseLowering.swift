// Element-wise nodes on the vector unit: each block of the output goes from where its operands
// live (L3, DRAM, the constants) to a tile's SRAM (one buffer per operand, one for the
// result), through one `vop` or two, and back; blocks are spread over every tile in turn.
import Formats
import IR
import ISA

extension Lowering {
    /// One vector-unit instruction of an element-wise node: a `vop` with its immediate, or,
    /// with a parameter record, a `vopp`.
    private typealias VectorStep = (op: String, imm: Float, record: [Int]?)

    /// The vector unit's instructions for an element-wise node, in order (each reads the
    /// previous one's result, the first reads the operands), and the inputs they read.
    private static func vectorSteps(_ node: Node, _ graph: Graph) throws -> (steps: [VectorStep], operands: [String]) {
        let x = node.inputs[0]
        func scalar(_ name: String) -> Float? {
            guard let t = graph.constants[name], t.dtype == .float32, t.count == 1, !t.floats()[0].isNaN else { return nil }
            return t.floats()[0]
        }
        // x + c, c + x, x * c and c * x round as x + c and x * c do (IEEE 754 addition and
        // multiplication commute), x - c as x + (-c) (it is defined so) and x / c: the
        // scalar takes `imm`. c - x and c / x stay binary.
        if ["Add", "Mul"].contains(node.op), node.inputs.count == 2 {
            let op = node.op == "Add" ? "add_scalar" : "mul_scalar"
            if let c = scalar(node.inputs[1]) { return ([(op, c, nil)], [x]) }
            if let c = scalar(x) { return ([(op, c, nil)], [node.inputs[1]]) }
        }
        if node.op == "Sub", node.inputs.count == 2, let c = scalar(node.inputs[1]) {
            return ([("add_scalar", -c, nil)], [x])
        }
        if node.op == "Div", node.inputs.count == 2, let c = scalar(node.inputs[1]) {
            return ([("div_scalar", c, nil)], [x])
        }
        // Sum, Max and Min fold their inputs left to right, as the interpreter does: each step
        // combines the result so far with the next input.
        // Mean is their Sum times the float32 reciprocal of their count, as the interpreter
        // computes it; of one input, that input.
        if let op = variadicOps[node.op] {
            let inputs = node.inputs.filter { !$0.isEmpty }
            guard !inputs.isEmpty else { throw IRError("cannot lower \(node.op) of no inputs", at: node) }
            guard node.op != "Mean" || inputs.count == 1 || !isInteger(x, graph) else {
                throw IRError("cannot lower Mean of integers (the interpreter multiplies by a reciprocal cast to 0)", at: node)
            }
            if inputs.count == 1 { return ([("copy", 0, nil)], inputs) }
            let folds: [VectorStep] = Array(repeating: (op, 0, nil), count: inputs.count - 1)
            return (folds + (node.op == "Mean" ? [("mul_scalar", 1 / Float(inputs.count), nil)] : []), inputs)
        }
        if node.op == "BatchNormalization" {
            // x * scale + shift per channel (madeConstants), as the interpreter computes it.
            return ([("mul", 0, nil), ("add", 0, nil)], [x, Self.batchNormScale, Self.batchNormShift])
        }
        if node.op == "Clip", isInteger(x, graph) {
            // min(max(x, lo), hi) with the bounds as operands (the immediate is a float32).
            let bounds = [node.input(1), node.input(2)]
            let steps = zip(["max", "min"], bounds).compactMap { op, b in b.map { _ in (op, Float(0), nil) as VectorStep } }
            return (steps.isEmpty ? [("copy", 0, nil)] : steps, [x] + bounds.compactMap { $0 })
        }
        if node.op == "Where" {
            guard node.inputs.count == 3 else { throw IRError("Where takes a condition, x and y", at: node) }
            return (try unaryOrBinarySteps(node, graph), [node.inputs[2], node.inputs[0], node.inputs[1]])
        }
        return (
            try unaryOrBinarySteps(node, graph),
            Array(
                node.inputs.prefix(
                    binaryOps.contains(node.op) || maskOps[node.op] != nil || bitOps[node.op] != nil || node.op == "BitShift"
                        ? 2 : 1))
        )
    }

    /// The bitwise ops of two integer operands and their `vop`s; BitShift's is its direction's.
    private static let bitOps = ["BitwiseAnd": "bit_and", "BitwiseOr": "bit_or", "BitwiseXor": "bit_xor"]

    /// The element-wise ops of two operands, each the `vop` of its lowercased name.
    private static let binaryOps = ["Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Mod"]

    /// The comparisons and the logic of two masks, and their `vop`s.
    private static let maskOps = [
        "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
        "GreaterOrEqual": "greater_equal", "And": "and", "Or": "or",
    ]

    /// The ops of any number of operands and the `vop` that combines two.
    private static let variadicOps = ["Sum": "add", "Mean": "add", "Max": "max", "Min": "min"]

    private static func unaryOrBinarySteps(_ node: Node, _ graph: Graph) throws -> [VectorStep] {
        func bound(_ index: Int) throws -> Float? {
            guard let name = node.input(index) else { return nil }
            guard let t = graph.constants[name], t.dtype == .float32, t.count == 1 else {
                throw IRError("cannot lower a Clip whose bound \"\(name)\" is not a float32 constant scalar", at: node)
            }
            return t.floats()[0]
        }
        switch node.op {
        case "Mod":
            // fmod = 1: the dividend's sign; 0 (integers only): the divisor's.
            let fmod = node.int("fmod", default: 0) == 1
            guard fmod || graph.type(of: node.inputs[0])?.dtype.isInteger == true else {
                throw IRError("cannot lower a Mod of floats with fmod = 0 (ONNX defines it for integers only)", at: node)
            }
            return [(fmod ? "fmod" : "mod", 0, nil)]
        case _ where binaryOps.contains(node.op): return [(node.op.lowercased(), 0, nil)]
        case _ where maskOps[node.op] != nil: return [(maskOps[node.op]!, 0, nil)]
        case "Not": return [("not", 0, nil)]
        case "BitwiseNot": return [("bit_not", 0, nil)]
        case "BitShift":
            let direction = node.string("direction", default: "")
            guard direction == "LEFT" || direction == "RIGHT" else {
                throw IRError("direction \"\(direction)\" is neither LEFT nor RIGHT", at: node)
            }
            return [("shift_\(direction.lowercased())", 0, nil)]
        case _ where bitOps[node.op] != nil: return [(bitOps[node.op]!, 0, nil)]
        case "Cast":
            // (castsOnTheVectorUnit): numbers convert with `cast` (float32 to an integer
            // truncates toward zero), a mask is already float32 1 and +0 (and converts as a
            // float32), and a bool is the mask of x != 0 (NaN true) as `not` twice gives it, of
            // an integer's float32 (which is 0 only for 0).
            guard let from = graph.type(of: node.inputs[0])?.dtype.vectorElement,
                let to = graph.type(of: node.outputs[0])?.dtype
            else { throw IRError("cannot lower Cast without static types", at: node) }
            if to == .bool {
                return (from == .f32 ? [] : [("cast", 0, nil)]) + [("not", 0, nil), ("not", 0, nil)]
            }
            return [(from == to.vectorElement ? "copy" : "cast", 0, nil)]
        case "Where":
            // dst starts as y; `where` then takes x where the mask is true (vectorSteps
            // orders the operands y, condition, x).
            return [("copy", 0, nil), ("where", 0, nil)]
        case "LeakyRelu": return [("leaky_relu", node.float("alpha", default: 0.01), nil)]
        case "Elu": return [("elu", node.float("alpha", default: 1), nil)]
        case "HardSigmoid":
            // Record: alpha's and beta's float32 bits, fourteen zeros.
            let alpha = node.float("alpha", default: 0.2), beta = node.float("beta", default: 0.5)
            let record = [alpha, beta].map { Int(Int32(bitPattern: $0.bitPattern)) } + [Int](repeating: 0, count: 14)
            return [("hard_sigmoid", 0, record)]
        case "Selu":
            // Record: alpha's and gamma's float32 bits, fourteen zeros.
            let alpha = node.float("alpha", default: 1.67326319217681884765625)
            let gamma = node.float("gamma", default: 1.05070102214813232421875)
            let record = [alpha, gamma].map { Int(Int32(bitPattern: $0.bitPattern)) } + [Int](repeating: 0, count: 14)
            return [("selu", 0, record)]
        case "Clip":
            // min(max(x, lo), hi); an absent bound changes nothing, so it is left out.
            let steps = [
                try bound(1).map { ("max_scalar", $0, nil) as VectorStep },
                try bound(2).map { ("min_scalar", $0, nil) as VectorStep },
            ].compactMap { $0 }
            return steps.isEmpty ? [("copy", 0, nil)] : steps
        case _ where unaryName(node) != nil: return [(unaryName(node)!, 0, nil)]
        default: throw IRError("cannot lower \(node.op) on the vector unit", at: node)
        }
    }

    private static func unaryName(_ node: Node) -> String? {
        VectorArithmetic.unaryName(onnx: node.op, approximate: node.string("approximate", default: "none"))
    }

    /// For each Add, Sub, Mul or Div result that only a Relu reads (and that is no graph
    /// output), that Relu's output: the Relu runs in the op's blocks.
    static func reluAfterElementwise(_ graph: Graph) -> [String: String] {
        var readers: [String: [Node]] = [:]
        for n in graph.nodes { for input in Set(n.inputs) { readers[input, default: []].append(n) } }
        let outputs = Set(graph.outputs.map(\.name))
        var relu: [String: String] = [:]
        for n in graph.nodes where ["Add", "Sub", "Mul", "Div"].contains(n.op) {
            guard let out = n.outputs.first, !outputs.contains(out), let r = readers[out], r.count == 1, r[0].op == "Relu",
                let reluOut = r[0].outputs.first, graph.type(of: reluOut)?.shape == graph.type(of: out)?.shape,
                graph.type(of: reluOut)?.dtype == .float32
            else { continue }
            relu[out] = reluOut
        }
        return relu
    }

    /// A Cast the vector unit does: between float32, bool, int32 and int64 but for float32
    /// to float32 (a copy, CopyLowering's).
    static func castsOnTheVectorUnit(_ node: Node, _ graph: Graph) -> Bool {
        guard node.op == "Cast", let from = graph.type(of: node.inputs[0])?.dtype,
            let to = node.outputs.first.flatMap({ graph.type(of: $0)?.dtype })
        else { return false }
        return from.vectorElement != nil && to.vectorElement != nil && !(from == .float32 && to == .float32)
    }

    /// The names of a BatchNormalization's per-channel constants among its operands.
    private static let batchNormScale = " batch_norm.scale", batchNormShift = " batch_norm.shift"

    /// Operands the lowering makes from a node's constants: BatchNormalization's scale and
    /// shift (VectorArithmetic.batchNormAffine), shaped [C, 1, ...] to broadcast over x.
    private static func madeConstants(_ node: Node, _ graph: Graph) throws -> [String: Tensor] {
        guard node.op == "BatchNormalization" else { return [:] }
        guard node.int("training_mode", default: 0) == 0, node.outputs.filter({ !$0.isEmpty }).count == 1 else {
            throw IRError("cannot lower a BatchNormalization in training mode", at: node)
        }
        guard let rank = graph.type(of: node.inputs[0])?.shape?.rank, rank >= 2,
            let c = graph.type(of: node.inputs[0])?.shape?.dims[1].value
        else { throw IRError("cannot lower a BatchNormalization whose input has no static channel axis", at: node) }
        let parameters = try (1...4).map { i -> [Float] in
            guard let name = node.input(i), let t = graph.constants[name], t.count == c else {
                throw IRError("cannot lower a BatchNormalization whose input \(i) is not a constant of \(c) values", at: node)
            }
            return t.cast(to: .float32).floats()
        }
        let (scale, shift) = VectorArithmetic.batchNormAffine(
            gamma: parameters[0], beta: parameters[1], mean: parameters[2], variance: parameters[3],
            epsilon: node.float("epsilon", default: 1e-5))
        let shape = [c] + [Int](repeating: 1, count: rank - 2)
        return [batchNormScale: Tensor(scale, shape: shape), batchNormShift: Tensor(shift, shape: shape)]
    }

    /// True when `value` is an int32 or int64 tensor.
    private static func isInteger(_ value: String, _ graph: Graph) -> Bool {
        [.int32, .int64].contains(graph.type(of: value)?.dtype)
    }

    /// Checks that every step of an integer node is one the vector unit computes on
    /// integers (schemas/isa.md, "Integer elements").
    private static func checkIntegerSteps(_ steps: [VectorStep], _ node: Node, _ type: DType) throws {
        let integerOps = Set(VectorArithmetic.integerBinary.keys).union(VectorArithmetic.integerUnary.keys)
            .union(VectorArithmetic.integerComparisons.keys).union(VectorArithmetic.integerShifts)
            .union(["where", "cast", "not"])
        for step in steps where !integerOps.contains(step.op) {
            throw IRError("cannot lower \(node.op) on \(type.name): the vector unit has no integer \(step.op)", at: node)
        }
    }

    /// True for the element-wise ops `lowerElementwise` takes.
    static func isElementwise(_ op: String) -> Bool {
        (binaryOps + variadicOps.keys + maskOps.keys + bitOps.keys
            + ["LeakyRelu", "Elu", "Clip", "HardSigmoid", "Selu", "Not", "Where", "BatchNormalization", "BitwiseNot", "BitShift"])
            .contains(op)
            || VectorArithmetic.unaryName(onnx: op) != nil
    }

    /// Add, Sub, Mul, Div and Pow, and Sum, Mean, Max and Min of any number of operands (numpy
    /// broadcasting; an operand may be a constant, a scalar one an immediate), the vector unit's unary functions
    /// (Relu, Sigmoid, Tanh, Erf, Exp, Log, Sqrt, Reciprocal, Neg, Abs, Floor, Ceil, Sign),
    /// LeakyRelu, Elu, HardSigmoid, Selu and Clip with constant bounds: in blocks of the output that
    /// fit a buffer per operand and one for the result (split at the first axis whose
    /// trailing block fits). With `relu`, the Relu that alone reads the result runs in the
    /// same blocks and its output is written instead.
    static func lowerElementwise(
        _ node: Node, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder, relu: String? = nil
    ) throws {
        // A bool (a comparison's result, a mask) is held as float32 1 and +0; int32 and
        // int64 as themselves.
        guard let out = node.outputs.first, let shape = graph.type(of: out)?.shape?.dims.compactMap(\.value),
            let y = memory.place(of: relu ?? out), let outType = graph.type(of: out)?.dtype,
            let outElement = outType.vectorElement
        else {
            throw IRError("cannot lower \(node.op) without a static float32, bool, int32 or int64 output", at: node)
        }
        var (steps, inputs) = try vectorSteps(node, graph)
        if let integer = ([out] + inputs).compactMap({ graph.type(of: $0)?.dtype }).first(where: { $0.isInteger }) {
            try checkIntegerSteps(steps, node, integer)
        }
        if relu != nil { steps.append(("relu", 0, nil)) }
        // Operand k in tile buffer k; step s reads the previous step's result and operand
        // s + 1, the first step operands 0 and 1 (`where` reads operands 1 and 2).
        let passSteps = steps.enumerated().map { s, step -> PassStep in
            var a: Operand = s == 0 ? .input(0) : .result
            var b: Operand? = s + 1 < inputs.count ? .input(s + 1) : nil
            if step.op == "where" { (a, b) = (.input(1), .input(2)) }
            return PassStep(op: step.op, imm: step.imm, record: step.record, a: a, b: b)
        }
        try lowerVectorPass(
            node, inputs: inputs, made: try madeConstants(node, graph), steps: passSteps, shape: shape, output: y,
            outElement: outElement, graph, memory, resources, &constants, &b)
    }

    /// Where a step of a vector pass reads an operand: one of the pass's inputs, in its
    /// SRAM buffer, or the result so far.
    enum Operand: Equatable {
        case input(Int)
        case result
    }

    /// One vector-unit instruction of a pass.
    struct PassStep: Equatable {
        var op: String
        var imm: Float
        var record: [Int]?
        var a: Operand
        var b: Operand?
    }

    /// Element-wise nodes each of whose results only the next one reads, all float32 and of
    /// one shape: lowered together, at the last, as one pass whose intermediate results stay
    /// in the tiles' SRAM and are never stored.
    struct ElementwiseChain {
        /// The nodes' indices, in graph order.
        var nodes: [Int]
        /// The values and constants its nodes read that no node of it makes, in order of
        /// first use.
        var inputs: [String] = []
        /// Every node's steps, in order, on those inputs and the result so far.
        var steps: [PassStep] = []

        /// The chain of `nodes`, its pass composed from each node's vector steps.
        init(nodes: [Int], _ graph: Graph) throws {
            self.nodes = nodes
            var previous: String?
            for index in nodes {
                let node = graph.nodes[index]
                let (nodeSteps, operands) = try vectorSteps(node, graph)
                func operand(_ k: Int) -> Operand? {
                    guard k < operands.count else { return nil }
                    if operands[k] == previous { return .result }
                    if let at = inputs.firstIndex(of: operands[k]) { return .input(at) }
                    inputs.append(operands[k])
                    return .input(inputs.count - 1)
                }
                for (s, step) in nodeSteps.enumerated() {
                    let a = s == 0 ? operand(0)! : .result
                    steps.append(PassStep(op: step.op, imm: step.imm, record: step.record, a: a, b: operand(s + 1)))
                }
                previous = node.outputs[0]
            }
        }
    }

    /// True for an element-wise node a chain may take: float32 operands and a static float32
    /// result, of at most two operands but scalars.
    static func isChainable(_ i: Int, _ graph: Graph) -> Bool {
        let node = graph.nodes[i]
        guard isElementwise(node.op), !["Where", "BatchNormalization"].contains(node.op),
            let out = node.outputs.first, graph.type(of: out)?.dtype == .float32,
            graph.type(of: out)?.shape?.dims.allSatisfy({ $0.value != nil }) == true,
            node.inputs.allSatisfy({ $0.isEmpty || graph.type(of: $0)?.dtype == .float32 }),
            let operands = try? vectorSteps(node, graph).operands, operands.count <= 2
        else { return false }
        return true
    }

    /// The chains of two or more element-wise nodes (`ElementwiseChain`) among the nodes
    /// not in `excluded`, each as long as it goes.
    static func elementwiseChains(_ graph: Graph, excluded: Set<Int>) -> [ElementwiseChain] {
        var readers: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() { for input in Set(n.inputs) { readers[input, default: []].append(i) } }
        let outputs = Set(graph.outputs.map(\.name))
        func chainable(_ i: Int) -> Bool { !excluded.contains(i) && isChainable(i, graph) }
        var chains: [ElementwiseChain] = [], taken: Set<Int> = []
        for start in graph.nodes.indices where !taken.contains(start) && chainable(start) {
            var chain = [start]
            while let out = graph.nodes[chain.last!].outputs.first, !outputs.contains(out),
                let r = readers[out], r.count == 1, !taken.contains(r[0]), chainable(r[0]),
                graph.type(of: graph.nodes[r[0]].outputs[0])?.shape == graph.type(of: out)?.shape
            {
                chain.append(r[0])
            }
            guard chain.count > 1, let composed = try? ElementwiseChain(nodes: chain, graph) else { continue }
            taken.formUnion(chain)
            chains.append(composed)
        }
        return chains
    }

    /// An element-wise chain, lowered at its last node: its inputs (the values and constants
    /// its nodes read that no node of it makes) each loaded once per block, every node's
    /// steps run on them in order, the last node's result stored.
    static func lowerElementwiseChain(
        _ chain: ElementwiseChain, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let last = graph.nodes[chain.nodes.last!]
        guard let out = last.outputs.first, let shape = graph.type(of: out)?.shape?.dims.compactMap(\.value),
            let y = memory.place(of: out)
        else { throw IRError("cannot lower \(last.op) without a static float32 output", at: last) }
        try lowerVectorPass(
            last, inputs: chain.inputs, made: [:], steps: chain.steps, shape: shape, output: y, outElement: .f32, graph, memory,
            resources, &constants, &b)
    }

    /// One step of a vector pass: `vop` `op` with its immediate, or with a parameter record
    /// of the constants `vopp`, from operands `a` and `b` (descriptors; 0 for none) to `dst`.
    static func emitStep(
        _ op: String, imm: Float, record: Int?, dst: UInt64, a: UInt64, b: UInt64, into builder: inout ProgramBuilder
    ) throws {
        let code = UInt64(InstructionSet.vectorOps.firstIndex(of: op)!)
        if let record {
            try builder.emit("vopp", ["op": code, "dst": dst, "a": a, "b": b, "params": UInt64(record)])
        } else {
            try builder.emit("vop", ["op": code, "dst": dst, "a": a, "b": b, "imm": UInt64(imm.bitPattern)])
        }
    }

    /// The fewest values of a vector pass's block when the output is spread over the tiles.
    static let minimumBlock = 256

    /// `steps` on `inputs` (numpy broadcasting to `shape`; an input may be a constant, or
    /// one of `made`), in blocks of the output that fit a buffer per input and one for the
    /// result (split at the first axis whose trailing block fits), written to `output`;
    /// blocks are spread over every tile in turn. Errors name `node`.
    private static func lowerVectorPass(
        _ node: Node, inputs: [String], made: [String: Tensor], steps: [PassStep], shape: [Int], output y: Place,
        outElement: ElementType, _ graph: Graph, _ memory: MemoryPlan, _ resources: TileResources,
        _ constants: inout ConstantSection, _ b: inout ProgramBuilder
    ) throws {
        let records = steps.map { $0.record.map { constants.record($0) } }
        let full = shape.isEmpty ? [1] : shape
        // Each operand: its memory space and address and its strides broadcast to `full`,
        // and its element type (integers keep their own).
        var operands: [(MemorySpace, UInt64, [Int])] = []
        var elements: [ElementType] = []
        for name in inputs {
            let type = made[name].map { TensorType($0.dtype, Shape($0.shape)) } ?? graph.type(of: name)
            guard let element = type?.dtype.vectorElement, let dims = type?.shape?.dims.compactMap(\.value) else {
                throw IRError(
                    "cannot lower \(node.op) of \"\(name)\": not a static float32, bool, int32 or int64 tensor", at: node)
            }
            elements.append(element)
            let padded = Array(repeating: 1, count: full.count - dims.count) + dims
            let own = TensorDescriptor.rowMajor(padded)
            let strides = zip(padded, own).map { $0 == 1 ? 0 : $1 }
            if let t = made[name] ?? graph.constants[name] {
                let at = constants.append(t, as: element)
                operands.append((.constants, UInt64(at), strides))
            } else if let o = memory.place(of: name) {
                operands.append((o.space, o.address, strides))
            } else {
                throw IRError("\"\(name)\" has no place in memory", at: node)
            }
        }
        // Blocks of as many values as spread the output over every tile, at least
        // `minimumBlock` and at most what fits a buffer per operand and one for the result:
        // split at the first axis whose trailing block is within that; walk the axes before it.
        let buffers = operands.count + 1
        let widest = (elements + [outElement]).map { $0 == .i64 ? 8 : 4 }.max() ?? 4
        let fitting = resources.sramBytes / buffers / 64 * 64 / widest
        guard fitting > 0 else {
            throw IRError("\(buffers) buffers of a value each do not fit a tile's SRAM", at: node)
        }
        let total = full.reduce(1, *)
        let target = min(fitting, max(minimumBlock, (total + resources.tileCount - 1) / resources.tileCount))
        let axis = full.indices.first { full[($0 + 1)...].reduce(1, *) <= target } ?? full.count - 1
        let inner = full[(axis + 1)...].reduce(1, *)
        var rows = min(full[axis], max(1, target / inner))
        // Blocks of whole 64-byte bursts (16 floats) when they can be, so neighbouring blocks
        // share none: rows a multiple of 16 / gcd(inner, 16).
        var common = 16
        while inner % common != 0 { common /= 2 }
        let burstRows = 16 / common
        if rows < full[axis] && rows >= burstRows { rows = rows / burstRows * burstRows }
        let slot = (widest * rows * inner + 63) / 64 * 64
        let outer = Array(full[..<axis]), outStrides = TensorDescriptor.rowMajor(full)
        var unit = 0
        for flat in 0..<outer.reduce(1, *) {
            var index = [Int](repeating: 0, count: outer.count), rest = flat
            for d in stride(from: outer.count - 1, through: 0, by: -1) { index[d] = rest % outer[d]; rest /= outer[d] }
            for r0 in stride(from: 0, to: full[axis], by: rows) {
                let (cluster, tile) = resources.place(unit)
                unit += 1
                let count = min(rows, full[axis] - r0)
                let dims = [count] + Array(full[(axis + 1)...])
                func sram(_ k: Int, _ element: ElementType = .f32) throws -> UInt64 {
                    b.descriptor(
                        try TensorDescriptor(.sram, element, cluster: cluster, tile: tile, address: UInt64(k * slot), dims: dims))
                }
                var tiles: [UInt64] = []
                for (k, (space, base, strides)) in operands.enumerated() {
                    let start = zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 } + r0 * strides[axis]
                    let size = elements[k] == .i64 ? 8 : 4
                    let src = try TensorDescriptor(
                        space, elements[k], address: base + UInt64(size * start), dims: dims, strides: Array(strides[axis...]))
                    tiles.append(try sram(k, elements[k]))
                    try b.emit("dma", ["dst": tiles[k], "src": b.descriptor(src)])
                }
                let result = try sram(operands.count, outElement)
                func buffer(_ o: Operand?) -> UInt64 {
                    switch o {
                    case .input(let k): return tiles[k]
                    case .result: return result
                    case nil: return 0
                    }
                }
                for (s, step) in steps.enumerated() {
                    try emitStep(
                        step.op, imm: step.imm, record: records[s], dst: result, a: buffer(step.a), b: buffer(step.b),
                        into: &b)
                }
                let at = zip(index, outStrides).reduce(0) { $0 + $1.0 * $1.1 } + r0 * outStrides[axis]
                try b.emit(
                    "dma",
                    [
                        "dst": b.descriptor(
                            try y.advanced(by: (outElement == .i64 ? 8 : 4) * at).descriptor(outElement, dims: dims)),
                        "src": result,
                    ])
            }
        }
    }
}

extension DType {
    /// The element type the vector unit holds this dtype in: float32 and bool (masks of
    /// float32 1 and +0) as f32, int32 and int64 as themselves; nil for any other.
    var vectorElement: ElementType? {
        switch self {
        case .float32, .bool: return .f32
        case .int32: return .i32
        case .int64: return .i64
        default: return nil
        }
    }
}
