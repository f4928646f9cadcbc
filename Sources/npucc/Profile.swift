// `npucc profile MODEL.npub [--json] [--target FILE]`: cycles per layer on the cycle model.
import ArgumentParser
import Bundle
import Driver
import Foundation

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Estimate a compiled bundle's cycles per layer on the target's cycle model.",
        discussion: """
            Per layer: cycles, MACs, MAC utilisation, bytes moved per memory level, the
            roofline lower bound and whether compute or DRAM bandwidth sets it; then the
            latency, inferences per second and effective TOPS at the target's clock. The
            bundle's own target is used (the built-in one when the bundle names it);
            --target runs the same program on another description with the same tiles. The
            model: schemas/cycles.md.

            Example:
              npucc profile digits.npub
              npucc profile digits.npub --json
              npucc profile digits.npub --trace digits-trace.json
            """)

    @Argument(help: "The compiled bundle (.npub).")
    var bundle: String

    @Flag(help: "Print the profile as JSON.")
    var json = false

    @Option(help: ArgumentHelp("The target description (JSON) to run the program on.", valueName: "FILE"))
    var target: String?

    @Option(
        help: ArgumentHelp(
            "Also write the schedule, every instruction on its unit, as a trace for ui.perfetto.dev or chrome://tracing.",
            valueName: "FILE"))
    var trace: String?

    @OptionGroup var console: ConsoleOptions

    func run() throws {
        try reportingErrors(file: bundle) {
            // A file that cannot be read gets the reader's reason instead.
            guard !BundleReader.lacksMagic(path: bundle) else {
                throw DriverError(file: bundle, "not a bundle (no NPUB magic): profile takes what npucc compile writes")
            }
            let profile =
                try trace.map { try ScheduleTrace.profile(bundlePath: bundle, targetPath: target, tracePath: $0) }
                ?? BundleProfile.profile(bundlePath: bundle, targetPath: target)
            print(json ? try BundleProfile.json(profile) : BundleProfile.text(profile))
        }
    }
}

extension ProfileCommand: ConsoleCommand {}
