// `npucc compile MODEL.onnx [-o OUT.npub]`: the deployable bundle.
import ArgumentParser
import Bundle
import Driver
import Formats
import Foundation
import Passes
import Report
import Target

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model into a bundle (.npub) for the target NPU.",
        discussion: """
            Folds BatchNormalization, fuses activations, calibrates on --calib, gives
            every Conv, ConvTranspose, Gemm and MatMul with constant weights its precision
            (one for all, or chosen per layer with --precision auto under --budget and
            --rules) and sparsity, and packs the weights in the order the target's tiles
            read them (schemas/weights.md). The bundle (schemas/bundle.md) holds the
            metadata (model, inputs, outputs, the layer table, target, options) and the
            packed weights; it is written whole or not at all, and the same inputs and
            flags give the same bytes. Without -o the bundle is the model's name with
            .npub in the current directory (model.onnx: model.npub).

            --report DIR also writes DIR/report.html (one self-contained page: the
            per-layer table, the precision along the network, the latency per layer, and
            with --precision auto the sensitivities, the precision search's Pareto
            frontier and histograms of the most sensitive layers) and DIR/report.json, the
            same data (schemas/report.md).

            Example:
              npucc compile samples/digits_cnn.onnx -o digits.npub --precision nvfp4 \\
                  --calib samples/digits_calib.npz --input-shape input=1,1,8,8
            """)

    @OptionGroup var options: ModelOptions

    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "The bundle to write (default: the model's name with .npub, in the current directory).",
            valueName: "OUT.npub"))
    var output: String?

    @Option(help: ArgumentHelp("The target description (JSON; the built-in NPU without it).", valueName: "FILE"))
    var target: String?

    @OptionGroup var flags: CompileFlags

    @Option(help: ArgumentHelp("Also write report.html and report.json into this directory.", valueName: "DIR"))
    var report: String?

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            let output = self.output ?? OutputPaths.bundle(for: options.model)
            guard output.hasSuffix(".npub") else { throw DriverError(file: output, "the bundle's name must end in .npub") }
            let description = try TargetReport.load(path: target)
            let compile = try flags.compileOptions()
            // The report's directory is checked before the work; the report is written before
            // the bundle, and taken away again if the bundle cannot be written.
            if let report { try ReportWriter.prepare(report) }
            var loaded = try options.load()
            let original = loaded
            let compiled = try Compilation.compile(
                &loaded, options: compile, array: try Compilation.arrayShape(description, file: target))
            compiled.notes.forEach { Console.status($0) }
            // The bundle is encoded once, for the report's profile and for the file.
            let bytes = try compiled.bundle().encoded(file: output)
            let data = try report.map { _ in
                try CompileReport(compiled, original: original, options: compile, targetPath: target, bundle: bytes)
            }
            let written = try report.flatMap { dir in try data.map { try ReportWriter.write($0, to: dir) } }
            do { try BundleWriter.write(bytes, to: URL(fileURLWithPath: output)) } catch {
                if let written { ReportWriter.remove(written) }
                throw error
            }
            // Weights stored: a blob layers share counts once.
            let blobs = Dictionary(compiled.layers.map { ($0.offset, $0.rows * $0.columns) }, uniquingKeysWith: { a, _ in a })
            let weights = blobs.values.reduce(0, +), sharing = compiled.layers.count - blobs.count
            Console.status(
                "\(output): \(compiled.layers.count) layers\(sharing > 0 ? " (\(sharing) sharing another's weights)" : ""), "
                    + "\(weights) weights in \(compiled.weights.count) bytes "
                    + String(format: "(%.2f bits per weight), ", Double(compiled.weights.count * 8) / Double(max(weights, 1)))
                    + "\(compiled.lowered.program.instructions.count) instructions")
            if let report { Console.status("\(report): report.html, report.json") }
        }
    }
}

extension Compile: ConsoleCommand {}
