// `npucc target [--target FILE] [--json]`: the resolved target description.
import ArgumentParser
import Driver
import Target

struct ShowTarget: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "target",
        abstract: "Check a target description and print what it resolves to.",
        discussion: """
            Without --target, the built-in target (the seed chapter's NPU). The summary
            shows peak MACs and TOPS per precision, dense and 2:4 sparse, and the memory
            hierarchy; --json prints the target as a file that --target reads back. The
            format is in schemas/target.md.

            Example:
              npucc target
              npucc target --target my-npu.json --json
            """)

    @Option(help: ArgumentHelp("The target description (JSON).", valueName: "FILE"))
    var target: String?

    @Flag(help: "Print the target as JSON (a target file) instead of the summary.")
    var json = false

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: target ?? TargetDescription.defaultFileName) {
            let t = try TargetReport.load(path: target)
            if json {
                print(t.json(), terminator: "")
            } else {
                print(TargetReport.text(t, source: target ?? "built in"))
            }
        }
    }
}

extension ShowTarget: ConsoleCommand {}
