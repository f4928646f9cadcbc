// Generates the importer's test models once per run with Tests/python/make_import_cases.py.
import Foundation
import TestSupport
import XCTest

enum ImportCases {
    /// The folder holding the generated models and expected.json.
    static let folder: Result<URL, Error> = Result {
        let dir = sharedTemporaryFolder("npucc-import-cases")
        let run = try runPython(script: "Tests/python/make_import_cases.py", arguments: [dir.path])
        guard run.status == 0 else { throw TestEnvironmentError("make_import_cases.py failed: \(run.stderr)") }
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
