// `npucc opt MODEL.onnx --passes ...`: run passes by name and print the IR.
import ArgumentParser
import Driver
import Foundation
import IR

struct Opt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run passes by name on a model and print the resulting IR.",
        discussion: """
            The model is imported and canonicalized first. Passes: infer-shapes,
            fold-constants, remove-identity, explicit-pads, global-pools,
            separable-pools, batchnorm-arithmetic, consecutive-reductions,
            compose-transposes, simplify-gemm, lift-vector-matmul, float-exponent,
            resolve-cast-like,
            eliminate-dead-code, import-qdq, dynamic-quantization, fold-batchnorm,
            fuse-layernorm, fuse-activation,
            prune-2-4, quantize.

            Example:
              npucc opt samples/digits_cnn.onnx \\
                  --passes fold-batchnorm,eliminate-dead-code --stats
              npucc opt samples/digits_cnn.onnx --passes fold-batchnorm \\
                  --print-ir-before fold-batchnorm
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "Comma-separated pass names, run in order.")
    var passes: String = ""

    @Option(name: .customLong("print-ir-after"), help: "Print the IR after this pass (repeatable).")
    var printIRAfter: [String] = []

    @Option(name: .customLong("print-ir-before"), help: "Print the IR before this pass (repeatable).")
    var printIRBefore: [String] = []

    @Flag(name: .customLong("print-ir-after-all"), help: "Print the IR after every pass.")
    var printIRAfterAll = false

    @Flag(help: "Print what each pass did.")
    var stats = false

    @Flag(help: "Print every constant's data, so the text parses back to the same model.")
    var constants = false

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            let selection = try PassSelection.parse(
                passes, printIRAfter: printIRAfter + (printIRAfterAll ? ["all"] : []),
                printIRBefore: printIRBefore)
            var loaded = try options.load()
            let statistics = try selection.run(on: &loaded) { print($0, terminator: "") }
            collectWarnings(statistics.flatMap(\.statistics.warnings), file: options.model)
            if stats {
                for (tag, s) in statistics {
                    FileHandle.standardError.write(Data("\(tag): \(s.isEmpty ? "no change" : s.description)\n".utf8))
                }
            }
            print(IRPrinter(constantDataLimit: constants ? nil : 16).print(loaded.model), terminator: "")
        }
    }
}

extension Opt: ConsoleCommand {}
