// Generates the importer's test models once per run with Tests/python/make_import_cases.py.
import Foundation
import XCTest

enum ImportCases {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The folder holding the generated models and expected.json.
    static let folder: Result<URL, Error> = Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-import-cases-\(getpid())")
        let python = ProcessInfo.processInfo.environment["NPUCC_PYTHON"] ?? root.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "npucc", code: 1, userInfo: [NSLocalizedDescriptionKey: "no Python at \(python): run `make venv`"])
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [root.appendingPathComponent("Tests/python/make_import_cases.py").path, dir.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "npucc", code: 2, userInfo: [NSLocalizedDescriptionKey: "make_import_cases.py failed"])
        }
        return dir
    }

    static func path(_ name: String) throws -> String { try folder.get().appendingPathComponent(name).path }

    /// expected.json: name -> (dtype, shape, values as Python reprs).
    static func expected() throws -> [String: (dtype: String, shape: [Int], values: [Double])] {
        let data = try Data(contentsOf: try folder.get().appendingPathComponent("expected.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] ?? [:]
        var out: [String: (dtype: String, shape: [Int], values: [Double])] = [:]
        for (name, entry) in object {
            let values = (entry["values"] as? [String] ?? []).map { text -> Double in
                switch text {
                case "inf": return .infinity
                case "-inf": return -.infinity
                default: return Double(text) ?? .nan
                }
            }
            out[name] = (entry["dtype"] as? String ?? "", entry["shape"] as? [Int] ?? [], values)
        }
        return out
    }
}
