// What the pass tests share: passes run on a graph written as IR text (Before), giving
// the IR text after them (to compare with Expected) and their statistics.
import Foundation
import IR
import Passes
import Reference

/// Parses `before` (elided constant data reads as zeros), runs `passes` in a verifying
/// pipeline and returns the printed result (without its final newline) and the statistics
/// of the last pass.
func apply(_ passes: [any Pass], to before: String) throws -> (after: String, statistics: PassStatistics) {
    var graph = try IRParser.parseGraph(before, options: IRParser.Options(elidedDataAsZeros: true))
    try Verifier.verify(graph)
    let statistics = try Pipeline(passes).run(&graph, PassContext())
    return (printed(graph), statistics.last?.statistics ?? PassStatistics())
}

func apply(_ pass: any Pass, to before: String) throws -> (after: String, statistics: PassStatistics) {
    try apply([pass], to: before)
}

/// `graph` in the text form, without the final newline.
func printed(_ graph: Graph) -> String {
    IRPrinter().print(graph).trimmingCharacters(in: .newlines)
}

/// Σ‖y − y'‖² / Σ‖y‖² over `samples` (each fed as "x"; "y" read) when constant `weight`
/// becomes `changed`.
func relativeOutputChange(_ graph: Graph, replacing weight: String, with changed: Tensor,
                          samples: [Tensor]) throws -> Double {
    var other = graph
    other.constants[weight] = changed
    let a = try Interpreter(graph: graph), b = try Interpreter(graph: other)
    var noise = 0.0, signal = 0.0
    for x in samples {
        let y = try a.run(["x": x])["y"]!.floats(), z = try b.run(["x": x])["y"]!.floats()
        for (p, q) in zip(y, z) {
            noise += Double(p - q) * Double(p - q)
            signal += Double(p) * Double(p)
        }
    }
    return noise / signal
}
