// The vectors of Tests/python/formats_reference.py (numpy + ml_dtypes), generated once
// per test run into a temporary folder.
import Foundation
import XCTest

enum ReferenceVectors {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static let folder: Result<URL, Error> = Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-format-vectors-\(getpid())")
        let python = ProcessInfo.processInfo.environment["NPUCC_PYTHON"] ?? root.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "npucc", code: 1, userInfo: [NSLocalizedDescriptionKey: "no Python at \(python): run `make venv`"])
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [root.appendingPathComponent("Tests/python/formats_reference.py").path, "vectors", dir.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "npucc", code: 2, userInfo: [NSLocalizedDescriptionKey: "formats_reference.py failed"])
        }
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
