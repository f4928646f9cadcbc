// The interpreter on a ResNet-50-sized model against onnxruntime (1 and 2 threads), and
// load time and peak memory of that ~100 MB model file.
import Driver
import Foundation
import IR
import Reference
import TensorIO

/// Paths and helpers shared by the benchmarks.
enum BenchEnvironment {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()
    static let scratch = root.appendingPathComponent(".build/bench")
    static var python: String {
        ProcessInfo.processInfo.environment["NPUCC_PYTHON"] ?? root.appendingPathComponent(".venv/bin/python").path
    }

    /// Runs a command; returns its stdout and the child's peak RSS in bytes. posix_spawn
    /// and wait4 directly: Foundation's Process reaps its children itself, losing rusage.
    @discardableResult
    static func spawn(_ arguments: [String], environment: [String: String] = [:]) throws -> (output: String, peakRSS: Int) {
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("npucc-bench-\(getpid()).out")
        defer { try? FileManager.default.removeItem(at: outputFile) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = env.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, arguments[0], &actions, nil, &argv, &envp) == 0 else {
            throw BenchError("cannot start \(arguments[0])")
        }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        guard status == 0 else { throw BenchError("\(arguments.joined(separator: " ")) failed with status \(status)") }
        let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        return (output, Int(usage.ru_maxrss) * 1024)
    }

    /// The ResNet-50-sized model (`Tests/bench/make_resnet50.py`), written on first use.
    static func resnet50() throws -> URL {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let model = scratch.appendingPathComponent("resnet50.onnx")
        if !FileManager.default.fileExists(atPath: model.path) {
            try spawn([python, root.appendingPathComponent("Tests/bench/make_resnet50.py").path, model.path])
        }
        return model
    }

    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func runModelBenchmark() throws -> [String] {
    let env = BenchEnvironment.self
    let model = try env.resnet50()
    let fileSize = (try FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int) ?? 0
    var lines = ["model: ResNet-50 shape, random weights, \(fileSize / 1_000_000) MB file"]

    // Peak RSS in a child running `npucc inspect`, measured first: a child's ru_maxrss
    // starts from this process's size at spawn. Then load time in this process.
    let npucc = env.root.appendingPathComponent(".build/release/npucc").path
    let ours = try env.spawn([npucc, "inspect", model.path]).peakRSS
    let peer = try env.spawn([env.python, "-c", "import onnx,sys; onnx.load(sys.argv[1])", model.path]).peakRSS
    var loadTimes: [Double] = []
    for _ in 0..<3 { loadTimes.append(try env.seconds { _ = try Frontend.load(path: model.path) }) }
    lines.append(String(format: "load + canonicalize: %.3f s (median of 3)", env.median(loadTimes)))
    lines.append(
        String(
            format:
                "peak RSS of `npucc inspect`: %.1f MB = %.2fx the file (target <= 1.5x); onnx.load in Python: %.1f MB = %.2fx",
            Double(ours) / 1e6, Double(ours) / Double(fileSize), Double(peer) / 1e6, Double(peer) / Double(fileSize)))

    // Inference at batch 1, against onnxruntime with 1 and 2 threads.
    let loaded = try Frontend.load(path: model.path, inputShapes: ["input": [1, 3, 224, 224]])
    var rng = SystemRandomNumberGenerator()
    let input = Tensor((0..<(3 * 224 * 224)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [1, 3, 224, 224])
    let inputs = env.scratch.appendingPathComponent("resnet50_input.npz")
    try NPZ.write([("input", input)], to: inputs, compressed: false)
    let ort = try env.spawn([
        env.python, env.root.appendingPathComponent("Tests/bench/ort_time.py").path,
        model.path, inputs.path, "1,2", "10",
    ]).output
    var ortTimes: [Int: Double] = [:]
    for line in ort.split(separator: "\n") {
        if let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let threads = object["threads"] as? Int, let t = object["median_s"] as? Double
        {
            ortTimes[threads] = t
        }
    }
    let interpreter = try Interpreter(graph: loaded.model.graph)
    for threads in [1, 2] {
        Parallelism.setThreadCount(threads)
        _ = try interpreter.run(["input": input])
        var times: [Double] = []
        for _ in 0..<5 { times.append(try env.seconds { _ = try interpreter.run(["input": input]) }) }
        let ours = env.median(times)
        let theirs = ortTimes[threads] ?? .nan
        lines.append(
            String(
                format: "batch 1, %d thread%@: npucc %.1f ms, onnxruntime %.1f ms, ratio %.2fx (target <= 2x)",
                threads, threads == 1 ? "" : "s", ours * 1e3, theirs * 1e3, ours / theirs))
        var timings: [String: Double]? = [:]
        _ = try interpreter.run(["input": input], timings: &timings)
        let byOp = (timings ?? [:]).sorted { $0.value > $1.value }.prefix(6)
        lines.append("  by op: " + byOp.map { String(format: "%@ %.1f ms", $0.key, $0.value * 1e3) }.joined(separator: ", "))
    }
    return lines
}
