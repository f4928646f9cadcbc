// The pass infrastructure: the registry holds every pass once under a kebab-case tag,
// pipelines verify after each pass and name the one that broke the IR, print IR around
// passes, and repeat until nothing changes.
import Foundation
import IR
import Passes
import TestSupport
import XCTest

/// Collects what a pipeline emits (the emit hook must be Sendable).
private final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []

    func append(_ text: String) { lock.withLock { entries.append(text) } }
    var all: [String] { lock.withLock { entries } }
}

/// Counts its runs and reports a change on the first `changes` of them.
private final class Counter: @unchecked Sendable {
    var runs = 0
}

private struct ChangesTwice: Pass {
    let tag = "changes-twice"
    let summary = "reports a change on its first two runs"
    let counter: Counter
    func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        counter.runs += 1
        var stats = PassStatistics()
        stats.add("changed", counter.runs <= 2 ? 1 : 0)
        return stats
    }
}

/// Changes something on its first two runs, warning each time.
private struct WarnsTwice: Pass {
    let tag = "warns-twice"
    let summary = "warns on its first two runs"
    let counter: Counter
    func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        counter.runs += 1
        var stats = PassStatistics()
        if counter.runs <= 2 {
            stats.add("changed")
            stats.warn("the same warning")
            stats.warn("run \(counter.runs)")
        }
        return stats
    }
}

private struct DropsEveryNode: Pass {
    let tag = "drop-every-node"
    let summary = "breaks the IR"
    func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        graph.nodes.removeAll()
        return PassStatistics()
    }
}

final class PipelineTests: XCTestCase {
    private let small = """
        graph main(%x: f32[2]) -> (%y: f32[*]) {
          const %k: f32[2] = [1.0, 2.0]
          %n = Neg(%k)
          %y = Add(%x, %n)
          return %y
        }
        """

    /// Every type conforming to Pass in Sources/Passes is registered, once, under a stable
    /// kebab-case tag; the canonicalize pipeline uses registered passes only.
    func testEveryPassIsRegisteredOnceByTag() throws {
        let tags = PassRegistry.all.map(\.tag)
        XCTAssertEqual(Set(tags).count, tags.count, "duplicate tags in \(tags)")
        for tag in tags {
            XCTAssertNotNil(tag.range(of: "^[a-z0-9]+(-[a-z0-9]+)*$", options: .regularExpression), "\(tag) is not kebab-case")
            XCTAssertEqual(PassRegistry.pass(tag)?.tag, tag)
        }
        for pass in Pipeline.canonicalize.passes { XCTAssertNotNil(PassRegistry.pass(pass.tag), pass.tag) }
        let registered = Set(PassRegistry.all.map { String(describing: type(of: $0)) })
        let root = packageRoot().appendingPathComponent("Sources/Passes")
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }
        var declared: Set<String> = []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                guard let match = line.firstMatch(of: /^public struct (\w+): Pass\b/) else { continue }
                declared.insert(String(match.1))
            }
        }
        XCTAssertFalse(declared.isEmpty)
        XCTAssertEqual(declared, registered, "passes declared in Sources/Passes versus PassRegistry.all")
    }

    func testAPipelineNamesThePassThatBreaksTheIR() throws {
        var graph = try IRParser.parseGraph(small)
        XCTAssertThrowsError(try Pipeline([InferShapes(), DropsEveryNode()]).run(&graph, PassContext())) { error in
            XCTAssertEqual(
                "\(error)",
                "after pass drop-every-node: graph output \"y\" is not defined "
                    + "by a graph input, constant or node")
        }
        var unchecked = try IRParser.parseGraph(small)
        XCTAssertNoThrow(try Pipeline([DropsEveryNode()]).run(&unchecked, PassContext(verify: false)))
    }

    func testIRIsPrintedBeforeAndAfterTheChosenPasses() throws {
        let transcript = Transcript()
        let context = PassContext(printIRAfter: ["all"], printIRBefore: ["fold-constants"], emit: { transcript.append($0) })
        var graph = try IRParser.parseGraph(small)
        try Pipeline([InferShapes(), FoldConstants()]).run(&graph, context)
        let dumps = transcript.all
        XCTAssertEqual(
            dumps.map { $0.prefix { $0 != "\n" } },
            ["// IR after infer-shapes", "// IR before fold-constants", "// IR after fold-constants"])
        XCTAssertEqual(dumps[0].drop { $0 != "\n" }.dropFirst(), Substring(dumps[1].drop { $0 != "\n" }.dropFirst()))
        // A dump is the text form: it parses back (the header is a comment) to the graph.
        XCTAssertEqual(printed(try IRParser.parseGraph(dumps[2])), printed(graph))
        XCTAssertTrue(dumps[2].contains("const %n: f32[2] = [-1.0, -2.0]"), dumps[2])
    }

    func testWarningsAreCollectedOnceOverTheRounds() throws {
        var graph = try IRParser.parseGraph(small)
        let stats = try Pipeline([WarnsTwice(counter: Counter())], maxRounds: 5).run(&graph, PassContext())
        XCTAssertEqual(stats[0].statistics.warnings, ["the same warning", "run 1", "run 2"])
        XCTAssertEqual(stats[0].statistics["changed"], 2)
    }

    func testPipelinesRepeatUntilNothingChanges() throws {
        let counter = Counter()
        var graph = try IRParser.parseGraph(small)
        let stats = try Pipeline([ChangesTwice(counter: counter)], maxRounds: 5).run(&graph, PassContext())
        XCTAssertEqual(counter.runs, 3, "two rounds that change, one that confirms")
        XCTAssertEqual(stats.first?.statistics["changed"], 2)
        let bounded = Counter()
        try Pipeline([ChangesTwice(counter: bounded)], maxRounds: 2).run(&graph, PassContext())
        XCTAssertEqual(bounded.runs, 2)
    }
}
