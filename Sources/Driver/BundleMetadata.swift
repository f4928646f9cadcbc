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
            case name, op, output, weight_shape, transposed, rows, columns, format, sparse, tile_rows, tile_columns,
                 offset, size, bits_per_weight, minimum_bits_per_weight, activation_format, activation_amax, fused_activation
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            let w = weights
            try c.encode(w.name, forKey: .name)
            try c.encode(w.op, forKey: .op)
            try c.encode(w.output, forKey: .output)
            try c.encode(w.weightShape, forKey: .weight_shape)
            try c.encode(w.transposed, forKey: .transposed)
            try c.encode(w.rows, forKey: .rows)
            try c.encode(w.columns, forKey: .columns)
            try c.encode(w.format, forKey: .format)
            try c.encode(w.sparse, forKey: .sparse)
            try c.encode(w.tileRows, forKey: .tile_rows)
            try c.encode(w.tileColumns, forKey: .tile_columns)
            try c.encode(w.offset, forKey: .offset)
            try c.encode(w.size, forKey: .size)
            try c.encode((w.bitsPerWeight * 1e4).rounded() / 1e4, forKey: .bits_per_weight)
            try c.encode(w.minimumBitsPerWeight, forKey: .minimum_bits_per_weight)
            try c.encodeIfPresent(activationFormat, forKey: .activation_format)
            try c.encodeIfPresent(activationAmax, forKey: .activation_amax)
            try c.encodeIfPresent(activation, forKey: .fused_activation)
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
                          instructions: lowered.program.instructions.count, inputs: lowered.inputs, outputs: lowered.outputs)
        self.machine = machine
    }
}
