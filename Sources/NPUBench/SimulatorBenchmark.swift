// The functional simulator on the ResNet-50-sized bundle, one input, against the reference
// interpreter running the ONNX model on the same input in the same process.
import Driver
import Foundation
import Reference
import TensorIO

func runSimulatorBenchmark() throws -> [String] {
    let env = BenchEnvironment.self
    let model = try env.resnet50()
    let npucc = env.root.appendingPathComponent(".build/release/npucc").path
    let input = env.scratch.appendingPathComponent("simulate_input.npz")
    try env.spawn([
        env.python, "-c",
        """
        import numpy as np, sys
        np.savez(sys.argv[1], input=np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32))
        """, input.path,
    ])
    let loaded = try Frontend.load(path: model.path, inputShapes: ["input": [1, 3, 224, 224]])
    let interpreter = try Interpreter(graph: loaded.model.graph)
    let x = try NPZ.read(url: input)[0].tensor
    _ = try interpreter.run(["input": x])
    var times: [Double] = []
    for _ in 0..<3 { times.append(try env.seconds { _ = try interpreter.run(["input": x]) }) }
    let reference = env.median(times)
    var lines = [
        String(
            format: "reference interpreter, fp32, batch 1: %.2f s (median of 3, %d threads)", reference, Parallelism.threadCount)
    ]
    let output = env.scratch.appendingPathComponent("simulate_output.npz")
    for (label, flags) in [
        ("nvfp4, 2:4", ["--precision", "nvfp4", "--sparsity", "2:4", "--prune", "magnitude"]), ("fp16", ["--precision", "fp16"]),
    ] {
        let bundle = env.scratch.appendingPathComponent("simulate.npub")
        let compiled = try env.spawn(
            [npucc, "compile", model.path, "-o", bundle.path, "--input-shape", "input=1,3,224,224", "--calib", input.path]
                + flags
        ).output
        let instructions = compiled.split(separator: "\n").last?.components(separatedBy: ", ").last ?? ""
        var runs: [Double] = []
        for _ in 0..<3 {
            runs.append(
                try env.seconds {
                    _ = try BundleExecution.run(bundlePath: bundle.path, inputsPath: input.path, outputsPath: output.path)
                })
        }
        let simulated = env.median(runs)
        lines.append(
            label.padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(
                    format: "simulator %.2f s (median of 3: bundle read, %@, outputs written), ratio %.1fx (target <= 10x)",
                    simulated, instructions, simulated / reference))
    }
    return lines
}
