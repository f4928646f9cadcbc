// `npucc export MODEL.onnx -o OUT.onnx --qdq`: the compiler's quantization as an ONNX model.
import ArgumentParser
import Driver
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the model as compiled, quantization and all, as an ONNX model onnxruntime runs.",
        discussion: """
            Runs the passes `compile` runs before the backend, with the same flags
            (BatchNormalization folded, activations fused and calibrated on --calib,
            each layer's precision and 2:4 sparsity chosen and applied), then writes
            the quantized graph in standard ONNX ops (opset 21), so the model's
            accuracy can be measured with any pipeline:

              fp8 weights    E4M3 codes (FLOAT8E4M3FN), a scale per output
                             channel, DequantizeLinear
              fp16 weights   a FLOAT16 initializer, Cast to float
              nvfp4 weights  the rounded (and pruned) values as float32
              fp8 inputs     QuantizeLinear / DequantizeLinear to FLOAT8E4M3FN,
                             saturating, with the calibrated per-tensor scale
              fp16 inputs    Cast to FLOAT16 and back
              nvfp4 inputs   block scales from blocks of 16 along the reduction
                             axis at run time (ReduceMax, E4M3 by a Q/DQ pair),
                             each element rounded to E2M1 (Round, Min, Where)

            onnxruntime running the file rounds what `npucc run MODEL.onnx` rounds
            with the same flags, on the same scales; the float32 sums between
            roundings may differ in their last bit (README). The file is written
            whole or not at all; the same model and flags give the same bytes.

            Example:
              npucc export samples/digits_cnn.onnx -o digits_fp8.onnx --qdq \\
                  --precision fp8 --calib samples/digits_calib.npz
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("The ONNX model to write.", valueName: "OUT.onnx"))
    var output: String

    @Flag(help: "Quantization as QuantizeLinear / DequantizeLinear pairs and casts (the only form export writes).")
    var qdq = false

    @OptionGroup var flags: CompileFlags

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            guard qdq else { throw DriverError(file: "--qdq", "export writes QDQ models only: give --qdq") }
            try OutputPaths.refuseOverwriting(output, inputs: [options.model] + (flags.quantization.calib.map { [$0] } ?? []))
            let compile = try flags.compileOptions()
            var loaded = try options.load()
            let exported = try QDQModelExport.export(&loaded, options: compile, to: output)
            exported.notes.forEach { Console.status($0) }
            Console.status(QDQModelExport.summary(exported, path: output))
        }
    }
}

extension Export: ConsoleCommand {}
