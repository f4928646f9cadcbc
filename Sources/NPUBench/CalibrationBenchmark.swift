// Calibration throughput against onnxruntime's static-quantization calibrators on the same
// ResNet-50-sized model and samples, and the time of sensitivity analysis.
import Foundation

func runCalibrationBenchmark() throws -> [String] {
    let env = BenchEnvironment.self
    let model = env.scratch.appendingPathComponent("resnet50.onnx")
    guard FileManager.default.fileExists(atPath: model.path) else { throw BenchError("run the model section first") }
    let samples = env.scratch.appendingPathComponent("calib8.npz")
    try env.spawn([env.python, "-c", """
        import numpy as np, sys
        np.savez(sys.argv[1], input=np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32))
        """, samples.path])
    let npucc = env.root.appendingPathComponent(".build/release/npucc").path
    var lines = ["8 samples of 1x3x224x224, ResNet-50-sized model (both tools load the model in the timing)"]
    let peer = try env.spawn([env.python, env.root.appendingPathComponent("Tests/bench/ort_calibrate.py").path,
                              model.path, samples.path, "input"]).output
    var theirs: [String: Double] = [:]
    for line in peer.split(separator: "\n") where line.hasPrefix("{") {
        if let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
           let m = o["method"] as? String, let t = o["seconds"] as? Double { theirs[m] = t }
    }
    for method in ["minmax", "entropy"] {
        let ours = try env.seconds { try env.spawn([npucc, "calibrate", model.path, "--calib", samples.path, "--method", method]) }
        let t = theirs[method] ?? .nan
        lines.append(String(format: "%-8@ npucc %.2f s, onnxruntime %.2f s, ratio %.2fx", method as NSString, ours, t, ours / t))
    }
    return lines
}
