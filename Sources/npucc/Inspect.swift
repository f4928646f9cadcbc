// `npucc inspect MODEL.onnx` and `npucc inspect BUNDLE.npub` (told apart by the magic).
import ArgumentParser
import Bundle
import Driver

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize a model (producer, IR version, opsets, inputs and outputs, operators, parameters) or a bundle.",
        discussion: """
            A file starting with the bundle magic "NPUB" is read as a bundle: every checksum, \
            bound and padding byte is checked, then the header, the sections and the metadata's \
            keys are printed; a damaged bundle is an error naming the section at fault. With \
            --check-sync, the program is also proved to order every dependence between its \
            queues (a byte one instruction writes and an instruction on another queue reads or \
            writes) by its signals and waits; the first it leaves unordered is an error naming \
            both instructions.

            Example:
              npucc inspect samples/digits_cnn.onnx
              npucc inspect model.onnx --input-shape input=1,3,224,224
              npucc inspect model.npub
              npucc inspect model.npub --check-sync
            """)

    @OptionGroup var options: ModelOptions

    @Flag(help: "For a bundle: prove that its semaphores order every dependence between its queues.")
    var checkSync = false

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: options.model) {
            if BundleInspection.isBundle(path: options.model) {
                if let option = options.givenModelOnlyOption {
                    throw DriverError(file: options.model, "\(option) applies to ONNX models, not to a bundle")
                }
                let bundle = try BundleReader.read(path: options.model)
                print(BundleInspection.report(bundle))
                if checkSync { print(BundleSynchronization.line(try BundleSynchronization.check(bundle, path: options.model))) }
                return
            }
            guard !checkSync else {
                throw DriverError(file: options.model, "--check-sync applies to a bundle, not to an ONNX model")
            }
            let loaded: LoadedModel
            do {
                loaded = try options.load()
            } catch {
                // What the file holds, as far as it parses, before the reason it does not import.
                if let outline = Inspection.outlineReport(path: options.model) { print(outline) }
                throw error
            }
            print(Inspection.report(loaded))
        }
    }
}

extension Inspect: ConsoleCommand {}
