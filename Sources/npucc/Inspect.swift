// `npucc inspect MODEL.onnx`.
import ArgumentParser
import Driver

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize a model: producer, IR version, opsets, inputs and outputs, operators, parameters.",
        discussion: """
            Example:
              npucc inspect samples/digits_cnn.onnx
              npucc inspect model.onnx --input-shape input=1,3,224,224
            """)

    @OptionGroup var options: ModelOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            let loaded = try options.load()
            print(Inspection.report(loaded))
        }
    }
}
