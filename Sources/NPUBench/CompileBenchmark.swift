// Compile time on the ResNet-50-sized model with 16 calibration samples, against
// onnxruntime's quantize_static on the same model and samples; the bundle's size and bits
// per weight.
import Foundation

func runCompileBenchmark() throws -> [String] {
    let env = BenchEnvironment.self
    let model = try env.resnet50()
    let samples = env.scratch.appendingPathComponent("calib16.npz")
    try env.spawn([
        env.python, "-c",
        """
        import numpy as np, sys
        np.savez(sys.argv[1], input=np.random.default_rng(0).standard_normal((16, 3, 224, 224)).astype(np.float32))
        """, samples.path,
    ])
    let npucc = env.root.appendingPathComponent(".build/release/npucc").path
    var lines = [
        "16 samples of 1x3x224x224, ResNet-50-sized model (each timing is the whole command: load, calibrate, quantize, write)"
    ]

    let quantized = env.scratch.appendingPathComponent("resnet50_qdq.onnx")
    let peer = try env.spawn([
        env.python, env.root.appendingPathComponent("Tests/bench/ort_quantize.py").path,
        model.path, samples.path, "input", quantized.path,
    ]).output
    guard let line = peer.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let theirs = object["seconds"] as? Double, let theirBytes = object["bytes"] as? Int
    else {
        throw BenchError("ort_quantize.py printed nothing")
    }
    lines.append(
        String(
            format: "onnxruntime quantize_static (MinMax, per-channel, QDQ, int8 activations and weights): %.1f s, %.1f MB model",
            theirs, Double(theirBytes) / 1e6))

    let runs: [(String, [String])] = [
        ("auto, 2:4 SparseGPT", ["--precision", "auto", "--sparsity", "2:4"]),
        ("auto, dense", ["--precision", "auto"]),
        ("nvfp4, 2:4 magnitude", ["--precision", "nvfp4", "--sparsity", "2:4", "--prune", "magnitude"]),
    ]
    for (label, flags) in runs {
        let bundle = env.scratch.appendingPathComponent("resnet50.npub")
        var output = ""
        let ours = try env.seconds {
            output = try env.spawn(
                [
                    npucc, "compile", model.path, "-o", bundle.path, "--input-shape", "input=1,3,224,224",
                    "--calib", samples.path,
                ] + flags
            ).output
        }
        // The bundle must read back with the independent reader; not timed.
        try env.spawn([env.python, env.root.appendingPathComponent("tools/npub.py").path, bundle.path])
        let size = (try FileManager.default.attributesOfItem(atPath: bundle.path)[.size] as? Int) ?? 0
        // The last line: "OUT.npub: N layers, W weights in B bytes (X bits per weight)".
        let summary = output.split(separator: "\n").last?.components(separatedBy: ".npub: ").last ?? ""
        lines.append(
            label.padding(toLength: 22, withPad: " ", startingAt: 0)
                + String(format: "npucc %.1f s, onnxruntime %.1f s, ratio %.2fx (target <= 1x)", ours, theirs, ours / theirs))
        lines.append(String(format: "  bundle %.1f MB: ", Double(size) / 1e6) + summary)
    }
    return lines
}
