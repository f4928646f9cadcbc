// `npucc run MODEL.npub`: a compiled bundle executed by the functional simulator. Inputs
// come from an .npz as for an ONNX model (float32, or int64 and int32 indices, each of the
// dtype the bundle records), and outputs go to one (float32, int64 or int32); an array
// holding several batches of an input compiled for a batch of B (N x B rows stacked along
// axis 0: N samples of a batch-1 input) runs the program once per batch.
import Bundle
import Formats
import Foundation
import IR
import ISA
import Reference
import Simulator
import TensorIO

public enum BundleExecution {
    private struct Placement: Decodable { var name: String; var offset: Int; var bytes: Int }
    private struct ProgramInfo: Decodable {
        var dram_bytes: Int
        var inputs: [Placement]
        var outputs: [Placement]
        /// Each lowered node's instructions (absent from the oldest bundles).
        var layers: [BundleProfile.LoweredLayerInfo]?
    }
    private struct ValueInfo: Decodable { var name: String; var dtype: String; var shape: [Int] }
    private struct Metadata: Decodable {
        var program: ProgramInfo
        var machine: Compilation.MachineMemories
        var inputs: [ValueInfo]
        var outputs: [ValueInfo]
    }

    /// Refuses metadata whose inputs and outputs do not match the program's places in DRAM:
    /// one place each, as many bytes as the shape and type take, inside the DRAM it sizes.
    private static func checkPlacements(_ meta: Metadata, bundlePath: String) throws {
        func refuse(_ what: String) -> DriverError { DriverError(file: bundlePath, "section META: \(what)") }
        let dram = meta.program.dram_bytes
        guard (0...(1 << 44)).contains(dram) else { throw refuse("program.dram_bytes is \(dram)") }
        for (infos, places, kind) in [
            (meta.inputs, meta.program.inputs, "input"), (meta.outputs, meta.program.outputs, "output"),
        ] {
            guard infos.count == places.count else {
                throw refuse("\(infos.count) \(kind)s, but the program places \(places.count)")
            }
            for (info, place) in zip(infos, places) {
                guard let bytes = (DType(name: info.dtype) ?? .float32).byteCount(of: info.shape), bytes == place.bytes,
                    place.offset >= 0, place.offset <= dram - bytes
                else {
                    throw refuse(
                        "\(kind) \"\(info.name)\" is \(info.dtype) \(info.shape), which does not fit the program's "
                            + "\(place.bytes) bytes at DRAM offset \(place.offset)")
                }
            }
        }
    }

    public static func run(bundlePath: String, inputsPath: String, outputsPath: String) throws -> [(String, Tensor)] {
        // The bundle's sections stay in the file's mapping: the program decodes from there,
        // and the machine reads the weights and constants there, uncopied.
        try BundleReader.withSections(path: bundlePath) { bundle, sections in
            let (program, meta) = try BundleProgram.load(bundle, sections: sections, path: bundlePath, as: Metadata.self)
            return try run(
                program, meta, weights: sections[.weights], constants: sections[.constants], bundlePath: bundlePath,
                inputsPath: inputsPath, outputsPath: outputsPath)
        }
    }

    private static func run(
        _ program: Program, _ meta: Metadata, weights: UnsafeRawBufferPointer?, constants: UnsafeRawBufferPointer?,
        bundlePath: String, inputsPath: String, outputsPath: String
    ) throws -> [(String, Tensor)] {
        try checkPlacements(meta, bundlePath: bundlePath)
        let arrays = try NPZ.read(url: URL(fileURLWithPath: inputsPath))
        var runs: Int?
        var feeds: [(Placement, Tensor, Int?)] = []  // where, the array, elements per run (nil: all, every run)
        var shared: [(String, [Int])] = [], stacked: [(String, [Int])] = []
        for (info, place) in zip(meta.inputs, meta.program.inputs) {
            guard let t = arrays.first(where: { $0.name == info.name })?.tensor.widened(for: DType(name: info.dtype) ?? .float32)
            else {
                throw DriverError(
                    file: inputsPath, "no array for input \"\(info.name)\" (keys: \(arrays.map(\.name).joined(separator: ", ")))")
            }
            guard let dtype = DType(name: info.dtype), [.float32, .int64, .int32].contains(dtype) else {
                throw DriverError(
                    file: bundlePath, "input \"\(info.name)\" is \(info.dtype): bundles take f32, i64 and i32 inputs")
            }
            guard t.dtype.name == info.dtype else {
                throw DriverError(file: inputsPath, "input \"\(info.name)\" is \(t.dtype.name), the bundle expects \(info.dtype)")
            }
            if Execution.sharedInput(t.shape, of: info.shape) {
                feeds.append((place, t, nil))
                shared.append((info.name, info.shape))
                continue
            }
            guard let count = Execution.stackedSamples(t.shape, of: info.shape) else {
                throw DriverError(
                    file: inputsPath,
                    "input \"\(info.name)\" has shape \(t.shape); the bundle was compiled for \(info.shape)"
                        + Execution.batchHint(t.shape, of: info.shape))
            }
            guard runs == nil || runs == count else {
                throw DriverError(file: inputsPath, "the inputs hold different numbers of samples")
            }
            runs = count
            feeds.append((place, t, info.shape.reduce(1, *)))
            stacked.append((info.name, info.shape))
        }
        try Execution.refuseOneBatchBeside(shared: shared, stacked: stacked, runs: runs ?? 1, file: inputsPath)
        try Execution.refuseUnknownArrays(
            arrays.map(\.name), inputs: meta.inputs.map(\.name), as: "an input of the bundle", file: inputsPath)
        let total = runs ?? 1
        // The memories the metadata sizes, with a written flag per byte, must be there to be
        // had: the simulator allocates them zeroed, and pages it never touches are never
        // mapped, so the address space is asked for once, as those allocations ask for it (a
        // mapping, which unlike an unused allocation the compiler does not take away).
        let m = meta.machine
        let bytes = 2 * (meta.program.dram_bytes + m.l3_bytes + m.clusters * (m.l2_bytes + m.tiles_per_cluster * m.sram_bytes))
        let probe = mmap(nil, max(bytes, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let probe, probe != MAP_FAILED else {
            throw DriverError(
                file: bundlePath, "its memories take \(bytes) bytes with their written flags, more than can be allocated here")
        }
        munmap(probe, max(bytes, 1))
        var results = meta.program.outputs.map { _ in [UInt8]() }
        let bar = ProgressLine(total: total, label: "simulating")
        defer { bar.finish() }
        for r in 0..<total {
            defer { bar.advance() }
            var machine = Machine(
                shape: MachineShape(
                    dramBytes: meta.program.dram_bytes, l3Bytes: m.l3_bytes, l2Bytes: m.l2_bytes,
                    sramBytes: m.sram_bytes, clusters: m.clusters, tilesPerCluster: m.tiles_per_cluster),
                borrowingWeights: weights ?? UnsafeRawBufferPointer(start: nil, count: 0),
                constants: constants ?? UnsafeRawBufferPointer(start: nil, count: 0))
            do {
                for (place, t, per) in feeds {
                    try machine.writeDRAM(
                        sampleBytes(t, per.map { (r * $0)..<((r + 1) * $0) } ?? 0..<t.count), at: place.offset)
                }
                try machine.run(program, threads: Parallelism.threadCount)
                for (i, place) in meta.program.outputs.enumerated() {
                    results[i] += try machine.readDRAM(place.offset, count: place.bytes)
                }
            } catch let e as SimulatorError {
                throw BundleProgram.failure(e, layers: meta.program.layers, bundlePath: bundlePath)
            }
        }
        let outputs: [(String, Tensor)] = zip(meta.outputs, results).map { info, bytes in
            var shape = info.shape
            // Samples along the first axis (none: an empty batch); a scalar's become a vector,
            // as the interpreter stacks them (`Execution.stacked`).
            if total != 1 { shape = shape.isEmpty ? [total] : [shape[0] * total] + shape.dropFirst() }
            // float32, or int64 and int32 (little-endian, as the program wrote them).
            guard let dtype = DType(name: info.dtype), dtype == .int64 || dtype == .int32 else {
                return (info.name, Tensor(Float32Bytes.decode(bytes), shape: shape))
            }
            let t = Tensor(zeros: dtype, shape: shape)
            bytes.withUnsafeBytes { raw in
                if dtype == .int64 {
                    t.withUnsafeMutableBuffer(as: Int64.self) { o in
                        for i in o.indices {
                            o[i] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                        }
                    }
                } else {
                    t.withUnsafeMutableBuffer(as: Int32.self) { o in
                        for i in o.indices {
                            o[i] = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                        }
                    }
                }
            }
            return (info.name, t)
        }
        try NPZ.write(outputs, to: URL(fileURLWithPath: outputsPath), compressed: false)
        return outputs
    }

    /// Elements `range` of `t` as the program reads them: little-endian float32, int64 or int32.
    private static func sampleBytes(_ t: Tensor, _ range: Range<Int>) -> [UInt8] {
        switch t.dtype {
        case .int64: return range.flatMap { withUnsafeBytes(of: t.int64(at: $0).littleEndian, Array.init) }
        case .int32:
            return range.flatMap { withUnsafeBytes(of: Int32(truncatingIfNeeded: t.int64(at: $0)).littleEndian, Array.init) }
        default: return Float32Bytes.encode(Array(t.floats()[range]))
        }
    }
}
