// The ONNX frontend: decodes a .onnx file and builds the IR graph, with initializers and
// Constant nodes as constants and every node rewritten into its canonical form.
import Foundation
import IR

/// What the user tells the importer beyond the file.
public struct ImportOptions: Sendable {
    /// Replacement shapes for graph inputs (`--input-shape NAME=1,3,320,320`).
    public var inputShapes: [String: [Int]]
    /// Values to end the model at (`--graph-outputs`): they become the graph outputs, and
    /// only the nodes they need are read. Empty: the model's own outputs.
    public var graphOutputs: [String]
    /// What computes the values import must know (`ImportEvaluator`); nil: constants and
    /// known shapes only.
    public var evaluator: ImportEvaluator?

    public init(inputShapes: [String: [Int]] = [:], graphOutputs: [String] = [], evaluator: ImportEvaluator? = nil) {
        self.inputShapes = inputShapes
        self.graphOutputs = graphOutputs
        self.evaluator = evaluator
    }
}

/// The opset range of the default ONNX domain that npucc reads.
public let supportedOpsets: ClosedRange<Int> = 1...28

/// What a model file holds as written, before any rewriting.
public struct ImportSummary: Sendable {
    /// Operator histogram of the file's nodes (Constant nodes included).
    public var opCounts: [String: Int]
    public var initializerCount: Int
    /// Initializers that the file also lists as graph inputs (old IR versions).
    public var initializerInputCount: Int
    /// The IR label of each node that stands for a file's node of another op (the last node
    /// of its decomposition), and that node's label as the file spells it.
    public var importedAs: [String: String] = [:]
    /// For a model that computes in float16 or bfloat16 (imported in float32): the graph
    /// inputs and outputs the file declares half; nil for any other model.
    public var half: (inputs: [String], outputs: [String])?
    /// The graph inputs that only nodes `--graph-outputs` left out read.
    public var droppedInputs: [String] = []
    /// The nodes of the file's graph, those `--graph-outputs` left out included.
    public var fileNodeCount = 0
}

public enum ONNXImporter {
    /// Reads the model at `path` into the IR (not yet canonicalized).
    public static func load(path: String, options: ImportOptions = ImportOptions()) throws -> Model {
        try loadWithSummary(path: path, options: options).model
    }

    /// Reads the model and also reports what the file holds as written.
    public static func loadWithSummary(path: String, options: ImportOptions = ImportOptions()) throws
        -> (model: Model, summary: ImportSummary)
    {
        let proto = try ProtoReader.readModel(path: path)
        let root = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            return try build(proto, externalRoot: root, options: options)
        } catch let e as TensorDecodingError {
            throw ImportError(file: path, message: e.description)
        } catch let e as IRError {
            // A node's error names the opset its op is read at.
            let opset = proto.opsets.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version
            guard let node = e.node, let opset else { throw ImportError(file: path, message: e.description) }
            throw ImportError(file: path, message: "node \(node) (opset \(opset)): \(e.message)")
        }
    }

    /// Reads a lone TensorProto file (the .pb files of ONNX test data sets).
    public static func loadTensor(path: String) throws -> (name: String, tensor: Tensor) {
        let proto = try ProtoReader.readTensor(path: path)
        do {
            let root = URL(fileURLWithPath: path).deletingLastPathComponent()
            return (proto.name, try proto.decode(what: "tensor \"\(proto.name)\"", externalRoot: root))
        } catch let e as TensorDecodingError {
            throw ImportError(file: path, message: e.description)
        }
    }

    static func build(_ proto: ONNXModel, externalRoot: URL?, options: ImportOptions) throws
        -> (model: Model, summary: ImportSummary)
    {
        let proto = try proto.inliningLocalFunctions()
        var opsets: [String: Int] = [:]
        for (domain, version) in proto.opsets {
            opsets[domain == "ai.onnx" ? "" : domain] = Int(clamping: version)
        }
        guard let opset = opsets[""] else {
            throw TensorDecodingError("the model imports no opset of the default ONNX domain")
        }
        guard supportedOpsets.contains(opset) else {
            throw TensorDecodingError(
                "default-domain opset \(opset) is not supported (npucc reads opsets \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound))"
            )
        }
        guard var g = proto.graph else { throw TensorDecodingError("the model has no graph") }
        let fileNodeCount = g.nodes.count
        var dropped: [String] = []
        if !options.graphOutputs.isEmpty {
            (g, dropped) = try g.cut(to: options.graphOutputs)
            if let name = options.inputShapes.keys.sorted().first(where: dropped.contains) {
                throw TensorDecodingError(
                    "--input-shape names \"\(name)\", a graph input that the values --graph-outputs names do not read")
            }
        }
        var context = ImportContext(opset: opset, externalRoot: externalRoot, evaluator: options.evaluator)
        let graph = try context.buildGraph(g, options: options)
        let model = Model(
            irVersion: Int(clamping: proto.irVersion), producerName: proto.producerName,
            producerVersion: proto.producerVersion, domain: proto.domain,
            modelVersion: Int(clamping: proto.modelVersion), docString: proto.docString,
            opsets: opsets, metadata: proto.metadata, graph: graph)
        let summary = ImportSummary(
            opCounts: context.sourceOpCounts,
            initializerCount: g.initializers.count,
            initializerInputCount: g.inputs.filter { context.constants[$0.name] != nil }.count,
            importedAs: context.importedAs,
            half: context.widensHalf ? (context.halfInputs, context.halfOutputs) : nil, droppedInputs: dropped,
            fileNodeCount: fileNodeCount)
        return (model, summary)
    }
}
