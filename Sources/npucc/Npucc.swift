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
        subcommands: [
            Compile.self, Disasm.self, Asm.self, Inspect.self, DumpIR.self, Run.self, Opt.self, Calibrate.self, Analyze.self,
            ShowTarget.self, ProfileCommand.self,
        ])

    static func main() {
        NativeKernels.ensure()
        main(nil)
    }
}

/// Options shared by the commands that read a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(
        name: .customLong("input-shape"),
        help: ArgumentHelp("Fix an input's shape, e.g. input=1,3,320,320 (repeatable).", valueName: "NAME=DIMS"))
    var inputShapes: [String] = []
}

extension ModelOptions {
    /// The model imported and canonicalized (`raw`: as imported), with canonicalization's
    /// warnings printed on stderr.
    func load(raw: Bool = false) throws -> LoadedModel {
        let loaded = try Frontend.load(path: model, inputShapes: try parseInputShapes(inputShapes), raw: raw)
        printWarnings(loaded.warnings, file: model)
        return loaded
    }
}

/// Prints each warning once, as `npucc: warning: FILE: what`, on stderr.
func printWarnings(_ warnings: [String], file: String) {
    var seen = Set<String>()
    for w in warnings where seen.insert(w).inserted {
        FileHandle.standardError.write(Data("npucc: warning: \(file): \(w)\n".utf8))
    }
}

/// Runs `body`, printing any error as `npucc: error: FILE: what` and exiting 1.
func reportingErrors(file: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("npucc: error: \(renderError(error, file: file))\n".utf8))
        throw ExitCode(1)
    }
}
