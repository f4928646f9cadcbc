// `npucc disasm OUT.npub` and `npucc asm PROGRAM.s --bundle OUT.npub -o NEW.npub`.
import ArgumentParser
import Driver

struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a bundle's program as assembly (schemas/isa.md).",
        discussion: """
            The descriptor table, then every instruction with all its fields by name.
            `npucc asm` reads this text back to the same bytes.

            Example:
              npucc disasm digits.npub > digits.s
            """)

    @Argument(help: "The bundle (.npub).")
    var bundle: String

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: bundle) { print(try BundleAssembly.disassemble(path: bundle), terminator: "") }
    }
}

struct Asm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Assemble a program into a copy of a bundle.",
        discussion: """
            Reads assembly (as `npucc disasm` prints it), checks every field, and writes
            the bundle given with --bundle, its program replaced, to -o. Without edits the
            result is the same bytes as the original.

            Example:
              npucc disasm digits.npub > digits.s
              npucc asm digits.s --bundle digits.npub -o digits2.npub
            """)

    @Argument(help: "The assembly file.")
    var source: String

    @Option(help: "The bundle whose weights, constants and metadata the new one keeps.")
    var bundle: String

    @Option(name: .shortAndLong, help: "The bundle to write.")
    var output: String

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: source) {
            guard output.hasSuffix(".npub") else { throw DriverError(file: output, "the bundle's name must end in .npub") }
            try BundleAssembly.assemble(sourcePath: source, into: bundle, outputPath: output)
        }
    }
}

extension Disasm: ConsoleCommand {}

extension Asm: ConsoleCommand {}
