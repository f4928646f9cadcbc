// Where tests find things: the package root (from this file's path), the Python that
// runs the reference checks, and the built npucc binary. A missing one fails loudly.
import Foundation

/// A test prerequisite that is missing (Python, the npucc binary, a script).
public struct TestEnvironmentError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The package root: the nearest folder above this source file holding Package.swift.
public func packageRoot() -> URL {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return url
}

/// The Python of the reference checks: `$NPUCC_PYTHON`, else `<root>/.venv/bin/python`.
/// Throws saying how to get one when neither is an executable file.
public func pythonExecutable() throws -> String {
    if let path = ProcessInfo.processInfo.environment["NPUCC_PYTHON"], !path.isEmpty {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestEnvironmentError("NPUCC_PYTHON=\(path) is not an executable file")
        }
        return path
    }
    let venv = packageRoot().appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: venv) else {
        throw TestEnvironmentError("no Python for the reference checks: set NPUCC_PYTHON or run `make venv` "
                                   + "(looked for \(venv))")
    }
    return venv
}

/// The npucc binary: `$NPUCC`, else `<root>/.build/release/npucc`, else
/// `<root>/.build/debug/npucc`. Throws saying how to build one when none exists.
public func npuccExecutable() throws -> String {
    if let path = ProcessInfo.processInfo.environment["NPUCC"], !path.isEmpty {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestEnvironmentError("NPUCC=\(path) is not an executable file")
        }
        return path
    }
    let candidates = ["release", "debug"].map { packageRoot().appendingPathComponent(".build/\($0)/npucc").path }
    guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
        throw TestEnvironmentError("no npucc binary: set NPUCC or run `make build` (looked for "
                                   + candidates.joined(separator: ", ") + ")")
    }
    return found
}
