// What the simulator tests share: float32 bytes, the quantized reference of a graph, and a
// whole graph lowered and simulated against the interpreter.
import Backend
import Formats
import IR
import ISA
import Passes
import Reference
import Simulator
import XCTest

func littleEndianBytes(_ t: [Float]) -> [UInt8] {
    t.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
}

/// `graph` (one input "x", one output "y") with its activations fused, pruned 2:4 by
/// magnitude when `sparse`, and quantized to `format` with x's amax; and the interpreter's
/// output for `x`.
func quantizedReference(_ graph: Graph, x: Tensor, format: PrecisionFormat, sparse: Bool) throws -> (Graph, Tensor, Float) {
    let amax = x.floats().map(\.magnitude).max()!
    var g = graph
    var context = PassContext()
    context.quantization = QuantizationPlan(format: format, activationAmax: ["x": amax])
    context.sparsity = sparse ? SparsityPlan(method: .magnitude) : nil
    try Pipeline([InferShapes(), FuseActivation()] + (sparse ? [Prune24()] : []) + [QuantizeLayers()]).run(&g, context)
    return (g, try Interpreter(graph: g).run(["x": x])["y"]!, amax)
}

/// `graph` (shapes inferred) lowered for `resources` and run by the simulator on `inputs`,
/// through the program's binary form: each output's float32 values.
func simulated(_ graph: Graph, _ inputs: [String: Tensor], resources: TileResources) throws -> [String: [Float]] {
    let section = try WeightSection.build(graph, arrayRows: resources.arrayRows, arrayColumns: resources.arrayColumns) {
        resources.rates[$0]!
    }
    let lowered = try Lowering.lower(graph, layers: section.layers, resources: resources)
    let program = try Program(
        descriptors: lowered.program.encodedDescriptors(), instructions: lowered.program.encodedInstructions())
    // In program order, and on two threads, which must give the same bits.
    var results: [[String: [Float]]] = []
    for threads in [1, 2] {
        var sim = Machine(
            shape: MachineShape(
                dramBytes: lowered.dramBytes, l3Bytes: 1 << 16, l2Bytes: 1 << 14, sramBytes: resources.sramBytes,
                clusters: resources.clusters, tilesPerCluster: resources.tilesPerCluster),
            weights: section.bytes, constants: lowered.constants)
        for p in lowered.inputs { try sim.writeDRAM(littleEndianBytes(inputs[p.name]!.floats()), at: p.offset) }
        try sim.run(program, threads: threads)
        var outputs: [String: [Float]] = [:]
        for p in lowered.outputs { outputs[p.name] = Float32Bytes.decode(try sim.readDRAM(p.offset, count: p.bytes)) }
        results.append(outputs)
    }
    XCTAssertEqual(
        results[1].mapValues { $0.map(\.bitPattern) }, results[0].mapValues { $0.map(\.bitPattern) },
        "two threads give what program order gives")
    return results[0]
}

/// Asserts that the simulator running `graph` lowered and the interpreter running `graph`
/// give the same bits for every output.
func assertSimulatedEqualsInterpreted(
    _ graph: Graph, _ inputs: [String: Tensor], resources: TileResources, file: StaticString = #filePath, line: UInt = #line
) throws {
    let want = try Interpreter(graph: graph).run(inputs)
    let got = try simulated(graph, inputs, resources: resources)
    XCTAssertEqual(Set(got.keys), Set(want.keys), file: file, line: line)
    for (name, t) in want {
        XCTAssertEqual(got[name]?.map(\.bitPattern), t.floats().map(\.bitPattern), name, file: file, line: line)
    }
}

/// `graph` with its shapes inferred (and, given a plan, quantized as compile quantizes).
func prepared(_ graph: Graph, quantization: QuantizationPlan? = nil) throws -> Graph {
    var g = graph
    var context = PassContext()
    context.quantization = quantization
    try Pipeline([InferShapes()] + (quantization == nil ? [] : [QuantizeLayers()])).run(&g, context)
    return g
}
