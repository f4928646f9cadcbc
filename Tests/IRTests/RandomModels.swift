// Random models for the text form's property tests: awkward names, every dtype, random
// bit patterns (NaN payloads, subnormals, -0), every attribute kind, optional operands.
import Foundation
import IR
import TestSupport

/// Draws models from a seeded generator; the same seed gives the same models.
struct RandomModels {
    var rng: SeededRandom
    private var taken: Set<String> = []

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    /// Names an ONNX file may hold, and some that only test the quoting.
    static let names = [
        "x", "input.1", "onnx::Conv_12", "/layer1/Conv_output_0", "with space", "quote\"d",
        "back\\slash", "ünïcode", "tab\there", "new\nline", "0", "-", "a:", ":", "nan", "inf", "_",
        "%", "->", "//comment", "🙂", "\u{1}ctl", "del\u{7f}", "a,b", "[x]", "f32",
    ]
    static let words = ["N", "batch size", "", "nan", "inf", "_", "2x", "seq.len", "f32", "true", "graph", "é", "\""]
    static let ops = ["Conv", "Relu", "My-Op", "op with space", "_", "nan", "f32", "const", "return", "Split"]
    static let keys = ["axis", "alpha", "nan", "f32", "with space", "floats", "_", "domain", "value"]

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    /// A value name not used yet in this model.
    mutating func freshName() -> String {
        let base = pick(Self.names)
        var name = base
        var k = 0
        while taken.contains(name) {
            k += 1
            name = base + String(k)
        }
        taken.insert(name)
        return name
    }

    mutating func string() -> String { pick(Self.names + Self.words) }

    mutating func type() -> TensorType {
        let dtype = pick(DType.allCases)
        if chance(0.1) { return TensorType(dtype, nil) }
        let dims = (0..<int(0...4)).map { _ -> Dim in
            switch int(0...5) {
            case 0: return .symbol(pick(Self.words))
            case 1: return .unknown
            case 2: return .known(pick([0, -1, Int.max, Int.min]))
            default: return .known(int(1...64))
            }
        }
        return TensorType(dtype, Shape(dims))
    }

    /// A tensor of random bytes (any bit pattern), a few special floats mixed in.
    mutating func tensor(maxElements: Int = 24) -> Tensor {
        let dtype = pick(DType.allCases)
        let shape: [Int] = chance(0.2) ? [] : (0..<int(1...3)).map { _ in chance(0.1) ? 0 : int(1...5) }
        var t = Tensor(zeros: dtype, shape: shape)
        if t.count > maxElements { t = Tensor(zeros: dtype, shape: [maxElements]) }
        let bytes = t.storage.base.assumingMemoryBound(to: UInt8.self)
        let typical = chance(0.5)  // values that print as literals, or any bytes (hex)
        for i in 0..<t.byteCount { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        if typical {
            for i in 0..<t.count { store(special(dtype), in: t, at: i) }
        }
        return t
    }

    /// An element value with a literal: special floats, extreme or small integers, 0/1 bools.
    private mutating func special(_ dtype: DType) -> Double {
        switch dtype {
        case .bool: return Double(int(0...1))
        case .float32, .float64, .float16, .bfloat16:
            return pick([
                0, -0.0, .infinity, -.infinity, .nan, 1e-40, 6e-8, 1e-300, 0.1, 1 / 3, -65504,
                Double(Float.greatestFiniteMagnitude), Double.random(in: -1e4...1e4, using: &rng),
            ])
        case .float8e4m3fn, .float8e5m2:
            return pick([
                0, -0.0, .infinity, -.infinity, .nan, 448, -57344, 0.001953125, 1.52587890625e-05, 0.1,
                Double.random(in: -500...500, using: &rng),
            ])
        case .float4e2m1: return pick([0, -0.0, 0.5, 1.5, -3, 6, -6])
        case .int4: return Double(int(-8...7))
        case .uint4: return Double(int(0...15))
        default: return Double(int(-128...127))
        }
    }

    private func store(_ v: Double, in t: Tensor, at i: Int) {
        let one = Tensor([v], shape: [1]).cast(to: t.dtype)
        let size = t.dtype.byteSize
        (t.storage.base + i * size).copyMemory(from: one.storage.base, byteCount: size)
    }

    mutating func attribute() -> Attribute {
        let float = { (r: inout RandomModels) -> Float in
            r.chance(0.3)
                ? r.pick([Float.nan, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, 1e20, 1])
                : Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &r.rng))
        }
        switch int(0...7) {
        case 0: return .int(pick([0, -1, Int.max, Int.min, int(-1000...1000)]))
        case 1: return .float(float(&self))
        case 2: return .string(string())
        case 3: return .tensor(tensor())
        case 4: return .ints((0..<int(0...4)).map { _ in int(-5...5) })
        case 5: return .floats((0..<int(0...4)).map { _ in float(&self) })
        case 6: return .strings((0..<int(0...3)).map { _ in string() })
        default: return .tensors((0..<int(0...2)).map { _ in tensor(maxElements: 6) })
        }
    }

    /// A model whose graph is well formed as the printer needs it: unique value names,
    /// inputs typed in `graph.types`, nodes reading earlier values or omitting operands.
    mutating func model() -> Model {
        taken = []
        var g = Graph(name: string())
        var values: [String] = []
        for _ in 0..<int(0...3) {
            let v = ValueInfo(name: freshName(), type: type())
            g.inputs.append(v)
            g.types[v.name] = v.type
            values.append(v.name)
        }
        for _ in 0..<int(0...4) {
            let name = freshName()
            g.constants[name] = tensor()
            values.append(name)
        }
        for _ in 0..<int(0...6) {
            var node = Node(op: pick(Self.ops), inputs: [], outputs: [])
            node.inputs = (0..<int(0...3)).map { _ in values.isEmpty || chance(0.2) ? "" : pick(values) }
            node.outputs = (0..<int(0...3)).map { _ in chance(0.15) ? "" : freshName() }
            for _ in 0..<int(0...3) { node.attributes[pick(Self.keys)] = attribute() }
            if chance(0.3) { node.domain = string() }
            if chance(0.5) { node.name = string() }
            for output in node.outputs where !output.isEmpty {
                if chance(0.7) { g.types[output] = type() }
                values.append(output)
            }
            g.nodes.append(node)
        }
        for _ in 0..<int(0...2) where !values.isEmpty {
            g.outputs.append(ValueInfo(name: pick(values), type: type()))
        }
        var model = Model(
            irVersion: int(0...10), producerName: chance(0.5) ? string() : "",
            producerVersion: chance(0.5) ? string() : "", domain: chance(0.3) ? string() : "",
            modelVersion: chance(0.3) ? int(-3...3) : 0, docString: chance(0.3) ? string() : "",
            opsets: [:], graph: g)
        for _ in 0..<int(0...2) { model.opsets[string()] = int(1...21) }
        model.metadata = (0..<int(0...2)).map { _ in (string(), string()) }
        return model
    }
}
