// `make bench`: npucc's benchmarks, each against a peer measured in the same run. Prints
// a report; docs/BENCHMARKS.md records it with the command that produced it.
import Foundation

let only = CommandLine.arguments.dropFirst().first
var report: [String] = ["npucc bench, \(ISO8601DateFormatter().string(from: Date())), \(ProcessInfo.processInfo.activeProcessorCount) cores"]

@MainActor func section(_ name: String, _ body: () throws -> [String]) {
    guard only == nil || only == name else { return }
    print("== \(name)")
    do {
        report += ["", "== \(name)"] + (try body())
    } catch {
        report += ["", "== \(name)", "FAILED: \(error)"]
        print("FAILED: \(error)")
    }
}

section("formats") { try runFormatsBenchmark() }
section("model") { try runModelBenchmark() }

print("")
print(report.joined(separator: "\n"))
