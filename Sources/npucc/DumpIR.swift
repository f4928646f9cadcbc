// `npucc dump-ir MODEL.onnx`: the textual IR after (or, with --raw, before) canonicalization.
import ArgumentParser
import Driver
import IR

struct DumpIR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-ir",
        abstract: "Print the model's IR in its text form (schemas/ir-text.md).",
        discussion: """
            Example:
              npucc dump-ir samples/shape_chain.onnx --input-shape input=2,3,16,16
              npucc dump-ir samples/shape_chain.onnx --raw
            """)

    @OptionGroup var options: ModelOptions

    @Flag(help: "Print the IR as imported, before canonicalization.")
    var raw = false

    @Flag(help: "Print every constant's data, so the text parses back to the same model.")
    var constants = false

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            let loaded = try options.load(raw: raw)
            print(IRPrinter(constantDataLimit: constants ? nil : 16).print(loaded.model), terminator: "")
        }
    }
}

extension DumpIR: ConsoleCommand {}
