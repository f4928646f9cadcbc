// Running programs from tests: any executable, the reference Python, the built npucc.
// Output goes through temporary files, so a chatty child can never block on a full pipe.
import Foundation
import XCTest

/// Runs `executable` with `arguments`, feeding it `stdin`, and waits. `status` is the exit
/// status, or 128 + the signal number when a signal ended the process (as shells report).
public func runProcess(_ executable: String, _ arguments: [String], stdin: String = "",
                       environment: [String: String]? = nil) throws -> (stdout: String, stderr: String, status: Int32) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let (inURL, outURL, errURL) = (dir.appendingPathComponent("in"), dir.appendingPathComponent("out"),
                                   dir.appendingPathComponent("err"))
    try Data(stdin.utf8).write(to: inURL)
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    let (input, output, error) = (try FileHandle(forReadingFrom: inURL), try FileHandle(forWritingTo: outURL),
                                  try FileHandle(forWritingTo: errURL))
    defer { for handle in [input, output, error] { try? handle.close() } }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardInput = input
    process.standardOutput = output
    process.standardError = error
    try process.run()
    process.waitUntilExit()
    let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return (String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            String(decoding: try Data(contentsOf: errURL), as: UTF8.self), status)
}

/// Runs Python (`pythonExecutable()`) on `script`: Python source, or the path of a `.py`
/// file (one line ending in `.py`; relative paths are from the package root). Throws when
/// there is no Python, so a missing reference fails the test instead of skipping it.
public func runPython(script: String, arguments: [String] = [], stdin: String = "") throws
    -> (stdout: String, stderr: String, status: Int32) {
    let python = try pythonExecutable()
    let isPath = script.hasSuffix(".py") && !script.contains("\n")
    if isPath {
        let path = script.hasPrefix("/") ? script : packageRoot().appendingPathComponent(script).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw TestEnvironmentError("Python script \(path) does not exist")
        }
        return try runProcess(python, [path] + arguments, stdin: stdin)
    }
    return try runProcess(python, ["-c", script] + arguments, stdin: stdin)
}

/// Runs the built npucc (`npuccExecutable()`) with `arguments`. When there is no binary or
/// it cannot start, the test fails with the reason and the result has status 127.
public func runNpucc(_ arguments: [String], stdin: String = "", file: StaticString = #filePath,
                     line: UInt = #line) -> (stdout: String, stderr: String, status: Int32) {
    do {
        return try runProcess(try npuccExecutable(), arguments, stdin: stdin)
    } catch {
        XCTFail("cannot run npucc: \(error)", file: file, line: line)
        return ("", "cannot run npucc: \(error)", 127)
    }
}
