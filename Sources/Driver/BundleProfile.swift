// `npucc profile MODEL.npub`: the bundle's program on the cycle model, per layer: cycles,
// MACs, MAC utilisation, bytes moved per memory level, the roofline lower bound and which of
// its terms (compute or memory) wins; then the latency, inferences per second and effective
// TOPS at the target's clock. schemas/cycles.md defines the model.
import Bundle
import Foundation
import ISA
import Simulator
import Target

public struct Profile: Encodable, Sendable {
    public struct Layer: Encodable, Sendable {
        public var name: String
        public var op: String
        /// "fp16", "nvfp4+2:4", ... for matrix layers; "-" otherwise.
        public var precision: String
        public var instructions: Int
        /// Cycles the program's completion frontier advances over this layer's instructions
        /// (the layers' cycles add up to the latency); first start and last completion.
        public var cycles: Int
        public var start: Int
        public var end: Int
        public var macs: Int
        /// MACs / (cycles x peak MACs per cycle at the layer's precision and sparsity).
        public var utilization: Double
        /// Bytes read or written per memory level, by the target's level names.
        public var bytes: [String: Int]
        /// max(MACs / peak, DRAM bytes / DRAM bandwidth), and the term that wins.
        public var rooflineCycles: Double
        public var bound: String

        enum CodingKeys: String, CodingKey {
            case name, op, precision, instructions, cycles, start, end, macs, utilization, bytes, bound
            case rooflineCycles = "roofline_cycles"
        }
    }

    public struct Total: Encodable, Sendable {
        public var cycles: Int
        public var seconds: Double
        public var inferencesPerSecond: Double
        public var macs: Int
        public var effectiveTOPS: Double
        public var rooflineCycles: Double

        enum CodingKeys: String, CodingKey {
            case cycles, seconds, macs
            case inferencesPerSecond = "inferences_per_second", effectiveTOPS = "effective_tops"
            case rooflineCycles = "roofline_cycles"
        }
    }

    public var target: String
    public var clockHz: Int
    public var memories: [String]
    public var layers: [Layer]
    public var total: Total

    enum CodingKeys: String, CodingKey {
        case target, memories, layers, total
        case clockHz = "clock_hz"
    }
}

public enum BundleProfile {
    private struct Metadata: Decodable {
        struct ProgramInfo: Decodable {
            var dram_bytes: Int
            var layers: [LoweredLayerInfo]?
        }
        var program: ProgramInfo
        var machine: Compilation.MachineMemories
        var target: String
    }

    /// The metadata's record of one lowered node.
    struct LoweredLayerInfo: Decodable {
        var name: String, op: String, first: Int, count: Int, macs: Int
        var precision: String?, activation_format: String?, sparse: Bool
        var weight_bytes: Int, input_bytes: Int, output_bytes: Int
        /// Absent from bundles written before the memory plan used L3: all in DRAM.
        var on_chip_bytes: Int?
    }

    /// The profile of the bundle at `path`, on the target it was compiled for: the built-in
    /// one when the bundle names it, else `targetPath`'s; `targetPath` overrides either way
    /// (the same program on other bandwidths or clocks) when its tiles are the bundle's.
    public static func profile(bundlePath: String, targetPath: String?) throws -> Profile {
        try profile(try BundleReader.read(path: bundlePath), bundlePath: bundlePath, targetPath: targetPath)
    }

    /// As above, for a bundle already read or made in memory; `bundlePath` names it in errors.
    public static func profile(_ file: BundleFile, bundlePath: String, targetPath: String?) throws -> Profile {
        try scheduled(file, bundlePath: bundlePath, targetPath: targetPath).profile
    }

    /// The profile, with the schedule it sums up.
    static func scheduled(_ file: BundleFile, bundlePath: String, targetPath: String?) throws -> (
        profile: Profile, schedule: Schedule, target: TargetDescription, program: Program, instructions: [Range<Int>]
    ) {
        let (bundle, program, meta) = try BundleProgram.load(file, path: bundlePath, as: Metadata.self)
        guard let layers = meta.program.layers else {
            throw DriverError(file: bundlePath, "section META: program.layers is missing: recompile the bundle to profile it")
        }
        var previous = 0
        for (i, l) in layers.enumerated() {
            guard l.first >= previous, l.count >= 0, l.first + l.count <= program.instructions.count else {
                throw DriverError(
                    file: bundlePath,
                    "section META: program.layers[\(i)] (\"\(l.name)\"): instructions \(l.first) to \(l.first + l.count) are "
                        + "not after the layer before's within the program's \(program.instructions.count)")
            }
            previous = l.first + l.count
        }
        let target = try self.target(for: meta, bundlePath: bundlePath, targetPath: targetPath)
        let schedule: Schedule
        do {
            schedule = try CycleModel(target: target).schedule(
                program, constants: bundle[.constants] ?? [], dramBytes: meta.program.dram_bytes,
                weightBytes: bundle[.weights]?.count ?? 0)
        } catch let e as SimulatorError {
            throw BundleProgram.failure(e, layers: layers, bundlePath: bundlePath)
        }
        return (
            summarize(schedule, layers, target), schedule, target, program,
            layers.map { scheduled($0, schedule) }
        )
    }

    /// The instructions of layer `l` the schedule reached: a program may halt before the
    /// layers its table lists end (one edited with `npucc asm`).
    private static func scheduled(_ l: LoweredLayerInfo, _ s: Schedule) -> Range<Int> {
        min(l.first, s.end.count)..<min(l.first + l.count, s.end.count)
    }

    private static func target(for meta: Metadata, bundlePath: String, targetPath: String?) throws -> TargetDescription {
        let target: TargetDescription
        if let targetPath {
            target = try TargetReport.load(path: targetPath)
        } else {
            target = try TargetDescription.default
            guard meta.target == target.name else {
                throw DriverError(
                    file: bundlePath, "compiled for target \"\(meta.target)\": give its description with --target")
            }
        }
        let m = meta.machine
        guard target.compute.clusters == m.clusters, target.compute.tilesPerCluster == m.tiles_per_cluster,
            target.tileMemoryBytes == m.sram_bytes
        else {
            throw DriverError(
                file: targetPath ?? bundlePath,
                "target \"\(target.name)\" has \(target.compute.clusters) x \(target.compute.tilesPerCluster) tiles of "
                    + "\(target.tileMemoryBytes) bytes; the bundle was compiled for \(m.clusters) x \(m.tiles_per_cluster) "
                    + "of \(m.sram_bytes)")
        }
        return target
    }

    private static func summarize(_ s: Schedule, _ layers: [LoweredLayerInfo], _ target: TargetDescription) -> Profile {
        let names = target.memories.map(\.name)
        let dramBandwidth = Double(target.backingMemory.map { target.aggregateBandwidthBytesPerCycle(of: $0) } ?? 1)
        let l3Bandwidth = CycleModel.levels(of: target)[.l3].map {
            Double(target.aggregateBandwidthBytesPerCycle(of: target.memories[$0]))
        }
        var frontier = 0, done = 0
        var rows: [Profile.Layer] = []
        func advance(to end: Int) -> Int {
            let before = frontier
            while done < end {
                frontier = max(frontier, s.end[done])
                done += 1
            }
            return frontier - before
        }
        for l in layers {
            let range = scheduled(l, s)
            // Instructions before the layer's own (none in a compiled program) count as its own.
            let cycles = advance(to: range.upperBound)
            var bytes = Dictionary(uniqueKeysWithValues: names.map { ($0, 0) })
            for i in range where s.bytes[i] > 0 {
                for level in [s.sourceLevel[i], s.destinationLevel[i]] where level >= 0 {
                    bytes[names[Int(level)]]! += s.bytes[i]
                }
            }
            let sparse = l.sparse
            let precision = l.precision.map {
                CycleModel.macPrecision(weights: $0, activations: l.activation_format ?? $0)
            }
            let peak = target.peakMACsPerCycle(precision ?? .fp16, sparse24: sparse)
            let compute = Double(l.macs) / peak
            // DRAM and L3 move their bytes at the same time: the slower of the two bounds the layer.
            let onChip = l3Bandwidth == nil ? 0 : l.on_chip_bytes ?? 0
            let memory = max(
                Double(l.weight_bytes + l.input_bytes + l.output_bytes - onChip) / dramBandwidth,
                Double(onChip) / (l3Bandwidth ?? 1))
            rows.append(
                Profile.Layer(
                    name: l.name, op: l.op, precision: l.precision.map { $0 + (sparse ? "+2:4" : "") } ?? "-",
                    instructions: range.count, cycles: cycles, start: range.map { s.start[$0] }.min() ?? 0,
                    end: range.map { s.end[$0] }.max() ?? 0, macs: l.macs,
                    utilization: cycles > 0 ? Double(l.macs) / (Double(cycles) * peak) : 0, bytes: bytes,
                    rooflineCycles: max(compute, memory), bound: l.macs > 0 && compute >= memory ? "compute" : "memory"))
        }
        let tail = advance(to: s.end.count)
        if tail > 0, !rows.isEmpty { rows[rows.count - 1].cycles += tail }
        let macs = rows.map(\.macs).reduce(0, +)
        let seconds = Double(s.cycles) / Double(target.clockHz)
        return Profile(
            target: target.name, clockHz: target.clockHz, memories: names, layers: rows,
            total: Profile.Total(
                cycles: s.cycles, seconds: seconds, inferencesPerSecond: s.cycles > 0 ? 1 / seconds : 0, macs: macs,
                effectiveTOPS: s.cycles > 0 ? 2 * Double(macs) / seconds / 1e12 : 0,
                rooflineCycles: rows.map(\.rooflineCycles).reduce(0, +)))
    }
}
