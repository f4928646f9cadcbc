// Quantize + pack throughput (MB/s of float32 input, one core) for NVFP4, MXFP4, FP8 and
// 2:4 + NVFP4, against numpy + ml_dtypes doing the same work in the same run.
import Formats
import Foundation

func runFormatsBenchmark() throws -> [String] {
    let env = BenchEnvironment.self
    let rows = 4096, columns = 4096
    var rng = SystemRandomNumberGenerator()
    let x = (0..<(rows * columns)).map { _ in Float.random(in: -3...3, using: &rng) }
    let megabytes = Double(x.count * 4) / 1e6
    func best(_ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<3 { times.append(try env.seconds(body)) }
        return times.min()!
    }
    var ours: [String: Double] = [:]
    try x.withUnsafeBufferPointer { p in
        ours["nvfp4"] = try best { _ = try NVFP4.quantize(p, rows: rows, columns: columns) }
        ours["mxfp4"] = try best { _ = try MX.quantize(p, rows: rows, columns: columns, element: .fp4) }
        ours["fp8"] = try best { _ = try FP8.quantize(p, rows: rows, columns: columns, perChannel: false) }
    }
    ours["2:4+nvfp4"] = try best {
        let mask = try Sparsity24.magnitudeMask(x, rows: rows, columns: columns)
        let sparse = try Sparsity24.compress(x, mask: mask, rows: rows, columns: columns)
        _ = try sparse.values.withUnsafeBufferPointer { try NVFP4.quantize($0, rows: rows, columns: columns / 2) }
    }
    let script = env.root.appendingPathComponent("Tests/python/formats_reference.py").path
    let output = try env.spawn([env.python, script, "bench", String(rows), String(columns)]).output
    let peer = (try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Double]) ?? [:]
    var lines = ["input: \(rows)x\(columns) float32 (\(Int(megabytes)) MB), one core; best of 3"]
    for name in ["nvfp4", "mxfp4", "fp8", "2:4+nvfp4"] {
        let t = ours[name]!
        var line = String(format: "%-10@ npucc %7.0f MB/s", name as NSString, megabytes / t)
        if let p = peer[name] {
            line += String(format: ", numpy+ml_dtypes %6.0f MB/s, ratio %.1fx", megabytes / p, p / t)
        }
        lines.append(line)
    }
    return lines
}
