// What a changed layer reaches: the nodes downstream of it, as a graph whose inputs are
// the unchanged values they read and the layer's output.
import IR
import Reference

struct ModelSuffix {
    /// The nodes after the layer that read its output, directly or not.
    private let interpreter: Interpreter
    /// The values those nodes read and do not make (the layer's output among them).
    private let inputs: [String]
    /// The model's first output.
    private let output: String

    /// nil when the layer at `index` does not reach the model's first output.
    init?(_ g: Graph, after index: Int) throws {
        guard let output = g.outputs.first?.name else { return nil }
        var reached = Set(g.nodes[index].outputs)
        var nodes: [Node] = []
        for node in g.nodes[(index + 1)...] where node.inputs.contains(where: reached.contains) {
            nodes.append(node)
            reached.formUnion(node.outputs)
        }
        guard reached.contains(output) else { return nil }
        let made = Set(nodes.flatMap(\.outputs))
        var read: [String] = []
        for n in nodes {
            for v in n.inputs where !v.isEmpty && !made.contains(v) && g.constants[v] == nil && !read.contains(v) {
                read.append(v)
            }
        }
        if nodes.isEmpty { read = [output] }
        self.output = output
        inputs = read
        let infos = read.map { ValueInfo(name: $0, type: TensorType(g.type(of: $0)?.dtype ?? .float32, nil as Shape?)) }
        interpreter = try Interpreter(
            graph: Graph(
                name: g.name, inputs: infos, outputs: g.outputs.filter { reached.contains($0.name) }, nodes: nodes,
                constants: g.constants, types: g.types))
    }

    /// The model's first output with `layerOutput` changed to `value`, the other values read
    /// from the unchanged run's `values`.
    func run(_ values: [String: Tensor], changing layerOutput: String, to value: Tensor) throws -> Tensor? {
        var feed: [String: Tensor] = [:]
        for v in inputs { feed[v] = v == layerOutput ? value : values[v] }
        return try interpreter.run(feed)[output]
    }
}
