// The fp32 reference interpreter: checks the inputs against the graph's declared types,
// runs the nodes in order and frees each value after its last use.
import Dispatch
import IR

public struct Interpreter: Sendable {
    public let graph: Graph
    /// For each node, the values whose last use it is.
    private let releases: [[String]]

    public init(graph: Graph) throws {
        self.graph = graph
        var lastUse: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for v in n.inputs where !v.isEmpty { lastUse[v] = i } }
        let kept = Set(graph.outputs.map(\.name))
        var releases = [[String]](repeating: [], count: graph.nodes.count)
        for (v, i) in lastUse where !kept.contains(v) && graph.constants[v] == nil { releases[i].append(v) }
        self.releases = releases
        for n in graph.nodes where !Kernels.supports(n.op) {
            throw IRError("the interpreter has no kernel for \(n.op)", at: n)
        }
    }

    /// Runs the graph on `inputs` (one tensor per graph input) and returns its outputs.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        var unused: [String: Double]? = nil
        return try run(inputs, timings: &unused)
    }

    /// As `run`, adding each op's wall time in seconds to `timings` when it is non-nil.
    public func run(_ inputs: [String: Tensor], timings: inout [String: Double]?) throws -> [String: Tensor] {
        try execute(inputs, timings: &timings, observe: nil)
    }

    /// As `run`, handing every node output to `observe` as it is computed (calibration
    /// collects activation statistics this way, without keeping the activations).
    public func run(_ inputs: [String: Tensor], observe: (String, Tensor) throws -> Void) throws -> [String: Tensor] {
        try withoutActuallyEscaping(observe) { observe in
            var unused: [String: Double]? = nil
            return try execute(inputs, timings: &unused, observe: observe)
        }
    }

    private func execute(_ inputs: [String: Tensor], timings: inout [String: Double]?,
                         observe: ((String, Tensor) throws -> Void)?) throws -> [String: Tensor] {
        var values: [String: Tensor] = [:]
        var symbols: [String: Int] = [:]
        for v in graph.inputs {
            guard let t = inputs[v.name] else { throw IRError("no value for graph input \"\(v.name)\"") }
            try check(t, against: v, symbols: &symbols)
            values[v.name] = t
        }
        for name in inputs.keys where !graph.inputs.contains(where: { $0.name == name }) {
            throw IRError("\"\(name)\" is not a graph input")
        }
        for (i, node) in graph.nodes.enumerated() {
            let args = node.inputs.map { $0.isEmpty ? nil : (values[$0] ?? graph.constants[$0]) }
            for (k, name) in node.inputs.enumerated() where !name.isEmpty && args[k] == nil {
                throw IRError("input \"\(name)\" has no value", at: node)
            }
            let start = timings == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let results = try Kernels.evaluate(node, args)
            if timings != nil {
                timings![node.op, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            for (name, t) in zip(node.outputs, results) where !name.isEmpty {
                values[name] = t
                try observe?(name, t)
            }
            for v in releases[i] { values[v] = nil }
        }
        var outputs: [String: Tensor] = [:]
        for v in graph.outputs {
            guard let t = values[v.name] ?? graph.constants[v.name] else {
                throw IRError("graph output \"\(v.name)\" was not computed")
            }
            outputs[v.name] = t
        }
        return outputs
    }

    /// The input must have the declared dtype and rank; known dims must match, and each
    /// symbolic dim must take one size across all inputs.
    private func check(_ t: Tensor, against v: ValueInfo, symbols: inout [String: Int]) throws {
        guard t.dtype == v.type.dtype else {
            throw IRError("input \"\(v.name)\" has type \(t.dtype.name), the model expects \(v.type.dtype.name)")
        }
        guard let shape = v.type.shape else { return }
        guard shape.rank == t.rank else {
            throw IRError("input \"\(v.name)\" has shape \(t.shape), the model expects \(v.type) (rank \(shape.rank))")
        }
        for (axis, (d, n)) in zip(shape.dims, t.shape).enumerated() {
            switch d {
            case .known(let k) where k != n:
                throw IRError("input \"\(v.name)\" has shape \(t.shape), the model expects \(v.type) (axis \(axis))")
            case .symbol(let s):
                if let bound = symbols[s], bound != n {
                    throw IRError("input \"\(v.name)\" axis \(axis) is \(n), but \(s) is \(bound) in another input")
                }
                symbols[s] = n
            default: break
            }
        }
    }
}
