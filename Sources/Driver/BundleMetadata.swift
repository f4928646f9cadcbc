// The metadata section of a bundle: what a runtime or a reader needs to know without the
// IR: the model, its inputs and outputs, each layer's precision, sparsity and packed
// weights, the target and the compiler's options. The bundle writer spells it in its one
// canonical JSON form: the same compile gives the same bytes.
import Backend
import Foundation
import IR
import Passes

public struct BundleMetadata: Encodable, Sendable {
    struct Value: Encodable, Sendable {
        var name: String
        var dtype: String
        var shape: [Int]
    }

    struct Layer: Encodable, Sendable {
        var weights: PackedLayer
        /// The format its input is quantized to on entry, and the calibrated amax.
        var activationFormat: String?
        var activationAmax: Float?
        var activation: String?

        enum CodingKeys: String, CodingKey {
            case activationFormat = "activation_format", activationAmax = "activation_amax", activation = "fused_activation"
        }

        /// The packed layer's fields, then how its input is quantized and what it fuses.
        func encode(to encoder: Encoder) throws {
            try weights.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(activationFormat, forKey: .activationFormat)
            try c.encodeIfPresent(activationAmax, forKey: .activationAmax)
            try c.encodeIfPresent(activation, forKey: .activation)
        }
    }

    var format = "npucc-bundle"
    var compiler: String
    var model: String
    var producer: String
    var inputs: [Value]
    var outputs: [Value]
    var layers: [Layer]
    var target: String
    var options: [String: String]
    var program: Program
    var machine: Compilation.MachineMemories

    /// Where the program finds its inputs and leaves its outputs.
    struct Program: Encodable, Sendable {
        var dram_bytes: Int
        var descriptors: Int
        var instructions: Int
        var inputs: [LoweredModel.Placement]
        var outputs: [LoweredModel.Placement]
        /// Each lowered node's instructions, MACs, precision and DRAM bytes (for the profile).
        var layers: [LoweredLayer]
    }

    init(_ loaded: LoadedModel, layers packed: [PackedLayer], options: CompileOptions, targetName: String,
         program lowered: LoweredModel, machine: Compilation.MachineMemories) {
        let graph = loaded.model.graph
        func value(_ v: ValueInfo) -> Value {
            Value(name: v.name, dtype: v.type.dtype.name, shape: v.type.shape?.dims.compactMap(\.value) ?? [])
        }
        compiler = "npucc \(Version.string)"
        model = URL(fileURLWithPath: loaded.path).lastPathComponent
        producer = [loaded.model.producerName, loaded.model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        inputs = graph.inputs.map(value)
        outputs = graph.outputs.map(value)
        let byOutput = Dictionary(uniqueKeysWithValues: graph.nodes.compactMap { n in n.outputs.first.map { ($0, n) } })
        layers = packed.map { p in
            let node = byOutput[p.output]
            return Layer(weights: p, activationFormat: node?.string(QuantizationAttributes.activationFormat),
                         activationAmax: node?.float(QuantizationAttributes.activationAmax),
                         activation: node?.string(FusedActivationAttributes.activation))
        }
        target = targetName
        self.options = options.recorded
        program = Program(dram_bytes: lowered.dramBytes, descriptors: lowered.program.descriptors.count,
                          instructions: lowered.program.instructions.count, inputs: lowered.inputs, outputs: lowered.outputs,
                          layers: lowered.layers)
        self.machine = machine
    }
}
