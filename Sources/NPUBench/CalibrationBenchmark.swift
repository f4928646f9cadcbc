// Calibration throughput against onnxruntime's static-quantization calibrators on the same
// ResNet-50-sized model and samples, and the time of sensitivity analysis.
import Foundation

func runCalibrationBenchmark() throws -> [String] {
    let env = BenchEnvironment.self
    let model = env.scratch.appendingPathComponent("resnet50.onnx")
    guard FileManager.default.fileExists(atPath: model.path) else { throw BenchError("run the model section first") }
    let samples = env.scratch.appendingPathComponent("calib8.npz")
    try env.spawn([
        env.python, "-c",
        """
        import numpy as np, sys
        np.savez(sys.argv[1], input=np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32))
        """, samples.path,
    ])
    let npucc = env.root.appendingPathComponent(".build/release/npucc").path
    var lines = ["8 samples of 1x3x224x224, ResNet-50-sized model (both tools load the model in the timing)"]
    let peer = try env.spawn([
        env.python, env.root.appendingPathComponent("Tests/bench/ort_calibrate.py").path,
        model.path, samples.path, "input",
    ]).output
    var theirs: [String: Double] = [:]
    for line in peer.split(separator: "\n") where line.hasPrefix("{") {
        if let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let m = o["method"] as? String, let t = o["seconds"] as? Double
        {
            theirs[m] = t
        }
    }
    for method in ["minmax", "entropy"] {
        let ours = try env.seconds {
            try env.spawn([npucc, "calibrate", model.path, "--calib", samples.path, "--method", method])
        }
        let t = theirs[method] ?? .nan
        lines.append(String(format: "%-8@ npucc %.2f s, onnxruntime %.2f s, ratio %.2fx", method as NSString, ours, t, ours / t))
    }
    lines += try sensitivityBenchmark(model: model, samples: samples)
    return lines
}

/// `npucc analyze` (calibration with layer Hessians, then every layer x candidate) against
/// the naive way in onnxruntime: one whole-network run per candidate and sample, timed as
/// that many batch-1 inferences (building the quantized models not counted).
private func sensitivityBenchmark(model: URL, samples: URL) throws -> [String] {
    let env = BenchEnvironment.self
    let npucc = env.root.appendingPathComponent(".build/release/npucc").path
    let input = env.scratch.appendingPathComponent("resnet50_input.npz")
    let ort = try env.spawn([
        env.python, env.root.appendingPathComponent("Tests/bench/ort_time.py").path,
        model.path, input.path, "2", "10",
    ]).output
    guard let first = ort.split(separator: "\n").first,
        let object = try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
        let inference = object["median_s"] as? Double
    else { throw BenchError("ort_time.py printed nothing") }
    var lines = [
        String(
            format: "sensitivity analysis, 8 calibration samples (Hessians from all 8); onnxruntime batch-1 inference %.1f ms",
            inference * 1e3)
    ]
    for (pruning, used) in [("wanda", 1), ("wanda", 4), ("sparsegpt", 1)] {
        var output = ""
        let ours = try env.seconds {
            output = try env.spawn([
                npucc, "analyze", model.path, "--calib", samples.path, "--samples", "\(used)",
                "--prune", pruning, "--json",
            ]).output
        }
        let document = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let layers = document?["layers"] as? [[String: Any]] ?? []
        let variants = layers.reduce(0) { $0 + (($1["candidates"] as? [Any])?.count ?? 0) }
        let naive = Double(variants * used) * inference
        lines.append(
            String(
                format:
                    "%-9@ %d sample%@: %d layers x candidates = %d runs; npucc %.1f s, onnxruntime whole-network runs %.1f s, ratio %.2fx",
                pruning as NSString, used, used == 1 ? "" : "s", variants, variants, ours, naive, ours / naive))
    }
    return lines
}
