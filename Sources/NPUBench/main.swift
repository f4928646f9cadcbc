// `make bench`: npucc's benchmarks, each against a peer measured in the same run. Prints
// a report; docs/BENCHMARKS.md records it with the command that produced it.
import Foundation
import Reference

NativeKernels.ensure()

let only = CommandLine.arguments.dropFirst().first
var report: [String] = [
    "npucc bench, \(ISO8601DateFormatter().string(from: Date())), \(ProcessInfo.processInfo.activeProcessorCount) cores"
]

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

// The model section spawns its peak-memory child first, while this process is still small:
// a spawned child's ru_maxrss starts from its parent's.
section("model") { try runModelBenchmark() }
section("formats") { try runFormatsBenchmark() }
section("calibration") { try runCalibrationBenchmark() }
section("compile") { try runCompileBenchmark() }
section("simulate") { try runSimulatorBenchmark() }

print("")
print(report.joined(separator: "\n"))
