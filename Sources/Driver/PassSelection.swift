// `--passes a,b,c` and the IR-printing flags: a pipeline assembled from pass tags.
import Foundation
import IR
import Passes

public struct PassSelection: Sendable {
    public var tags: [String]
    public var printIRAfter: Set<String>
    public var printIRBefore: Set<String>

    public init(tags: [String], printIRAfter: Set<String> = [], printIRBefore: Set<String> = []) {
        self.tags = tags
        self.printIRAfter = printIRAfter
        self.printIRBefore = printIRBefore
    }

    /// Parses `--passes` (comma-separated tags); an unknown tag is an error naming the known ones.
    public static func parse(_ list: String, printIRAfter: [String] = [], printIRBefore: [String] = []) throws -> PassSelection {
        let tags = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let known = PassRegistry.all.map(\.tag)
        for tag in tags + printIRAfter + printIRBefore where tag != "all" && !known.contains(tag) {
            throw DriverError(file: "--passes", "unknown pass \"\(tag)\" (passes: \(known.joined(separator: ", ")))")
        }
        return PassSelection(tags: tags, printIRAfter: Set(printIRAfter), printIRBefore: Set(printIRBefore))
    }

    /// Runs the selected passes on `loaded`, printing IR as asked; returns each pass's
    /// statistics.
    public func run(on loaded: inout LoadedModel, emit: @escaping @Sendable (String) -> Void) throws -> [(
        tag: String, statistics: PassStatistics
    )] {
        let passes = tags.compactMap { PassRegistry.pass($0) }
        let context = PassContext(verify: true, printIRAfter: printIRAfter, printIRBefore: printIRBefore, emit: emit)
        do {
            let stats = try Pipeline(passes).run(&loaded.model.graph, context)
            for i in loaded.model.graph.outputs.indices {
                if let t = loaded.model.graph.type(of: loaded.model.graph.outputs[i].name) {
                    loaded.model.graph.outputs[i].type = t
                }
            }
            return stats
        } catch let e as IRError {
            throw loaded.error(e)
        }
    }
}
