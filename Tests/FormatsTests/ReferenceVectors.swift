// The vectors of Tests/python/formats_reference.py (numpy + ml_dtypes), generated once
// per test run into a temporary folder.
import Foundation
import TestSupport
import XCTest

enum ReferenceVectors {
    static let folder: Result<URL, Error> = Result {
        let dir = sharedTemporaryFolder("npucc-format-vectors")
        let run = try runPython(script: "Tests/python/formats_reference.py", arguments: ["vectors", dir.path])
        guard run.status == 0 else { throw TestEnvironmentError("formats_reference.py failed: \(run.stderr)") }
        return dir
    }

    static func load<T>(_ name: String, as: T.Type) throws -> [T] {
        let data = try Data(contentsOf: try folder.get().appendingPathComponent(name))
        return data.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
    }

    static func blocks() throws -> [(rows: Int, columns: Int, global: Float)] {
        let data = try Data(contentsOf: try folder.get().appendingPathComponent("blocks.json"))
        let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
        return list.map { ($0["rows"] as? Int ?? 0, $0["columns"] as? Int ?? 0, Float(($0["nvfp4_global"] as? Double) ?? .nan)) }
    }
}
