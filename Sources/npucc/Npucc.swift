// The npucc command line: one small type per subcommand; errors are rendered once here.
import ArgumentParser
import Driver
import Foundation
import Reference

@main
struct Npucc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "npucc",
        abstract: "Compile ONNX models for an NPU with nvfp4, fp8 and 2:4 sparse fast paths.",
        version: Version.string,
        subcommands: [
            Compile.self, Export.self, Disasm.self, Asm.self, Inspect.self, DumpIR.self, Run.self, Opt.self, Calibrate.self,
            Analyze.self,
            ShowTarget.self, ProfileCommand.self,
        ])

    static func main() {
        NativeKernels.ensure()
        do {
            var command = try parseAsRoot()
            Console.configure((command as? ConsoleCommand)?.console.verbosity ?? .normal)
            Console.log.info("OpenBLAS kernels: \(NativeKernels.current)")
            try command.run()
            Console.finish()
        } catch {
            Console.finish()
            exit(withError: error)
        }
    }
}

/// `--quiet` and `--verbose`, which every command takes.
struct ConsoleOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print errors only: no warnings, progress bars or status lines.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Also log every stage on stderr with its elapsed time.")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose exclude each other") }
    }

    var verbosity: Verbosity { quiet ? .quiet : verbose ? .verbose : .normal }
}

/// A command whose stderr follows `--quiet` and `--verbose`.
protocol ConsoleCommand {
    var console: ConsoleOptions { get }
}

/// Options shared by the commands that read a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(
        name: .customLong("input-shape"),
        help: ArgumentHelp(
            "Fix an input's shape, e.g. input=1,3,320,320 (repeatable); its named dimensions (batch, sequence) take those extents in every input.",
            valueName: "NAME=DIMS"))
    var inputShapes: [String] = []

    @Option(
        name: .customLong("graph-outputs"),
        help: ArgumentHelp(
            "End the model at these values (comma-separated or repeated): they become its outputs, and only the "
                + "nodes they need are read, e.g. a detector's scores and boxes before its post-processing.",
            valueName: "NAME,..."))
    var graphOutputs: [String] = []

    /// `--graph-outputs`' names, each option split at its commas.
    var graphOutputNames: [String] {
        graphOutputs.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    /// The options that only apply to an ONNX model, when any is given (for a bundle's refusal).
    var givenModelOnlyOption: String? {
        !inputShapes.isEmpty ? "--input-shape" : !graphOutputs.isEmpty ? "--graph-outputs" : nil
    }
}

extension ModelOptions {
    /// The model imported and canonicalized (`raw`: as imported), with canonicalization's
    /// warnings printed on stderr.
    func load(raw: Bool = false) throws -> LoadedModel {
        let loaded = try Frontend.load(
            path: model, inputShapes: try parseInputShapes(inputShapes), graphOutputs: graphOutputNames, raw: raw)
        collectWarnings(loaded.warnings, file: model)
        return loaded
    }
}

/// Collects each warning, as `FILE: what`, for the summary at the end.
func collectWarnings(_ warnings: [String], file: String) {
    for w in warnings { Console.warn(w, file: file) }
}

/// Runs `body`, printing any error as `npucc: error: FILE: what` and exiting 1.
func reportingErrors(file: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        Console.finish()
        FileHandle.standardError.write(Data("npucc: error: \(renderError(error, file: file))\n".utf8))
        throw ExitCode(1)
    }
}
