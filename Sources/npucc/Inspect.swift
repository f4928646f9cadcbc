// `npucc inspect MODEL.onnx` and `npucc inspect BUNDLE.npub` (told apart by the magic).
import ArgumentParser
import Driver

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize a model (producer, IR version, opsets, inputs and outputs, operators, parameters) or a bundle.",
        discussion: """
            A file starting with the bundle magic "NPUB" is read as a bundle: every checksum, \
            bound and padding byte is checked, then the header, the sections and the metadata's \
            keys are printed; a damaged bundle is an error naming the section at fault.

            Example:
              npucc inspect samples/digits_cnn.onnx
              npucc inspect model.onnx --input-shape input=1,3,224,224
              npucc inspect model.npub
            """)

    @OptionGroup var options: ModelOptions

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            if BundleInspection.isBundle(path: options.model) {
                guard options.inputShapes.isEmpty else {
                    throw DriverError(file: options.model, "--input-shape applies to ONNX models, not to a bundle")
                }
                print(try BundleInspection.report(path: options.model))
                return
            }
            let loaded = try options.load()
            print(Inspection.report(loaded))
        }
    }
}

extension Inspect: ConsoleCommand {}
