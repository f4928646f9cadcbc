// `npucc compile`: the passes a deployable model needs (fold BatchNormalization, fuse
// activations, calibrate, choose and apply each layer's precision and sparsity), then the
// backend: packed weights, the program, and the bundle's sections and metadata.
import Backend
import Bundle
import Formats
import Foundation
import IR
import Passes
import Reference
import Target

/// What the command line asks of a compile.
public struct CompileOptions: Sendable {
    public enum Sparsity: String, Sendable, CaseIterable { case none, twoFour = "2:4", auto }

    /// "fp16", "fp8", "nvfp4" or "auto".
    public var precision = "fp16"
    public var sparsity = Sparsity.none
    public var calibPath: String?
    public var calibMethod = "percentile"
    /// The 2:4 method; nil picks SparseGPT with calibration samples, magnitude without.
    public var pruning: PruningMethod?
    public var budget = "nvfp4"
    public var rulesPath: String?
    public var biasCorrection = false
    /// With --precision auto: the calibration samples the end-to-end errors are measured on
    /// (scales, Hessians and norms come from all of them).
    public var analysisSamples = 4
    /// With --precision auto: each candidate's end-to-end error measured, or predicted from
    /// its layer output error and the layer's gains.
    public var outputError = EndToEndError.estimated
    /// Prints the IR between passes (`--print-ir-after-all`).
    public var passContext = PassContext()

    public init() {}

    /// The options as the metadata records them.
    var recorded: [String: String] {
        var r = [
            "precision": precision, "sparsity": sparsity.rawValue, "calib_method": calibMethod,
            "bias_correction": "\(biasCorrection)",
        ]
        if precision == "auto" {
            r["budget"] = budget
            r["analysis_samples"] = "\(analysisSamples)"
            r["output_error"] = outputError.rawValue
        }
        if let pruning { r["prune"] = pruning.rawValue }
        return r
    }
}

/// A compiled model: the graph as quantized, the packed weights, the program and the metadata.
public struct CompiledModel: Sendable {
    public var graph: Graph
    public var weights: [UInt8]
    public var layers: [PackedLayer]
    public var lowered: LoweredModel
    public var metadata: BundleMetadata
    /// Lines for the user (the automatic assignment's summary).
    public var notes: [String]
    /// With --precision auto: the sensitivity analysis and the assignment solved from it.
    public var analysis: PrecisionAnalysis?
}

/// What --precision auto measured and chose, kept for reports.
public struct PrecisionAnalysis: Sendable {
    public var sensitivity: SensitivityReport
    public var assignment: PrecisionAssignment
}

public enum Compilation {
    /// The MAC array the weights are tiled for, and each format's rate.
    public struct ArrayShape: Sendable {
        public var rows: Int
        public var columns: Int
        public var rates: [PrecisionFormat: Int]
        public var targetName: String
        /// A MAC tile's resources, and the memories a simulator of the target models.
        public var resources: TileResources
        public var machine: MachineMemories

        public init(
            rows: Int, columns: Int, rates: [PrecisionFormat: Int], targetName: String, resources: TileResources,
            machine: MachineMemories
        ) {
            self.rows = rows
            self.columns = columns
            self.rates = rates
            self.targetName = targetName
            self.resources = resources
            self.machine = machine
        }
    }

    /// The on-chip memory sizes the bundle records for whoever runs it.
    public struct MachineMemories: Sendable, Codable, Equatable {
        public var sram_bytes: Int
        public var l2_bytes: Int
        public var l3_bytes: Int
        public var clusters: Int
        public var tiles_per_cluster: Int

        public init(sram_bytes: Int, l2_bytes: Int, l3_bytes: Int, clusters: Int, tiles_per_cluster: Int) {
            (self.sram_bytes, self.l2_bytes, self.l3_bytes) = (sram_bytes, l2_bytes, l3_bytes)
            (self.clusters, self.tiles_per_cluster) = (clusters, tiles_per_cluster)
        }

        /// Decoded from a bundle, checked against what the ISA can address (a cluster in 8
        /// bits, a tile in 8 bits with 255 the cluster's own engines) and what a machine can
        /// hold, so that a damaged record is refused by field instead of sizing the simulator.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func int(_ key: CodingKeys, _ range: ClosedRange<Int>) throws -> Int {
                let v = try c.decode(Int.self, forKey: key)
                guard range.contains(v) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: c, debugDescription: "machine.\(key.stringValue) is \(v), not in \(range)")
                }
                return v
            }
            self.init(
                sram_bytes: try int(.sram_bytes, 1...Self.largestMemory), l2_bytes: try int(.l2_bytes, 0...Self.largestMemory),
                l3_bytes: try int(.l3_bytes, 0...Self.largestMemory), clusters: try int(.clusters, 1...256),
                tiles_per_cluster: try int(.tiles_per_cluster, 1...255))
        }

        /// The largest on-chip memory a bundle may name: 4 GiB.
        public static let largestMemory = 1 << 32
    }

    /// The MAC array of `target`; each format's rate must be a whole number of MACs per
    /// cell and cycle (the packed layout's tile width is the array's rows times it).
    public static func arrayShape(_ target: TargetDescription, file: String? = nil) throws -> ArrayShape {
        let c = target.compute
        var rates: [PrecisionFormat: Int] = [:]
        for (format, rate) in [(PrecisionFormat.fp16, c.macRate.fp16), (.fp8, c.macRate.fp8), (.nvfp4, c.macRate.nvfp4)] {
            guard rate == rate.rounded(), rate >= 1 else {
                throw DriverError(
                    file: file ?? "--target",
                    "compute.mac_rate.\(format.rawValue) is \(rate): packed weights need a whole rate")
            }
            rates[format] = Int(rate)
        }
        // The levels by the roles the ISA's spaces give them (`schemas/cycles.md`, memories),
        // whatever their names: absent levels are 0 (none).
        let l2 = target.clusterMemoryIndex.map { target.memories[$0] }
        let l3 = target.globalBufferIndex.map { target.memories[$0] }
        let dram = target.memories.last
        var resources = TileResources(
            sramBytes: target.tileMemoryBytes, arrayRows: c.macArray.rows,
            arrayColumns: c.macArray.columns, rates: rates, clusters: c.clusters,
            tilesPerCluster: c.tilesPerCluster, l3Bytes: l3?.sizeBytes ?? 0, l2Bytes: l2?.sizeBytes ?? 0)
        resources.dramBytes = dram?.sizeBytes ?? Int.max
        (resources.l2BytesPerCycle, resources.l3BytesPerCycle, resources.dramBytesPerCycle) =
            (l2?.bandwidthBytesPerCycle ?? 0, l3?.bandwidthBytesPerCycle ?? 0, dram?.bandwidthBytesPerCycle ?? 0)
        (resources.dramLatency, resources.l3Latency) = (dram?.latencyCycles ?? 0, l3?.latencyCycles ?? 0)
        (resources.vectorLanes, resources.elementwiseCycles, resources.transcendentalCycles) = (
            target.vector.lanesPerTile, target.vector.elementwiseCycles, target.vector.transcendentalCycles
        )
        let machine = MachineMemories(
            sram_bytes: target.tileMemoryBytes, l2_bytes: l2?.sizeBytes ?? 0, l3_bytes: l3?.sizeBytes ?? 0,
            clusters: c.clusters, tiles_per_cluster: c.tilesPerCluster)
        return ArrayShape(
            rows: c.macArray.rows, columns: c.macArray.columns, rates: rates, targetName: target.name,
            resources: resources, machine: machine)
    }

    /// The passes before the backend, which `compile` and `export` share: BatchNormalization
    /// folded, activations fused and calibrated, and every layer's precision and sparsity
    /// chosen and applied. Returns lines for the user (the automatic assignment's summary)
    /// and, with --precision auto, what the analysis measured and chose.
    public static func quantize(_ loaded: inout LoadedModel, options: CompileOptions) throws
        -> (notes: [String], analysis: PrecisionAnalysis?)
    {
        let method = try PrecisionSetup.calibrationMethod(options.calibMethod)
        if let chosen = options.pruning, options.sparsity == .none {
            throw PrecisionSetup.pruningWithoutSparsity(chosen.rawValue, auto: options.precision == "auto")
        }
        let pruning = options.pruning ?? PrecisionSetup.defaultPruning(calibrated: options.calibPath != nil)
        var notes: [String] = []
        var analysis: PrecisionAnalysis?
        if options.precision == "auto" {
            guard let calib = options.calibPath else {
                throw DriverError(file: "--precision", "auto needs calibration samples (--calib)")
            }
            let rules = try options.rulesPath.map(SensitivitySetup.rules(path:))
            let report = try SensitivitySetup.analyze(
                &loaded, calibPath: calib, method: method, pruning: pruning, sparse: options.sparsity != .none,
                dense: options.sparsity != .twoFour, maxSamples: options.analysisSamples, endToEnd: options.outputError,
                base: options.passContext)
            let assignment = try SensitivitySetup.assign(
                report, budget: options.budget, rules: rules,
                rulesPath: options.rulesPath ?? "--rules",
                sparsity: options.sparsity.rawValue)
            try SensitivitySetup.apply(
                assignment, report: report, pruning: pruning, biasCorrection: options.biasCorrection,
                to: &loaded, base: options.passContext)
            notes.append(SensitivitySetup.summary(assignment, report.layers))
            analysis = PrecisionAnalysis(sensitivity: report, assignment: assignment)
        } else {
            guard let format = PrecisionFormat(rawValue: options.precision), format != .fp32 else {
                throw DriverError(file: "--precision", "unknown precision \"\(options.precision)\" (fp16, fp8, nvfp4, auto)")
            }
            guard options.sparsity != .auto else {
                throw DriverError(file: "--sparsity", "auto chooses per layer and needs --precision auto")
            }
            guard options.rulesPath == nil else {
                throw DriverError(file: "--rules", "precision rules apply to --precision auto only")
            }
            if format != .fp16 && options.calibPath == nil {
                throw DriverError(file: "--precision", "\(format.rawValue) activations need calibrated scales: give --calib")
            }
            _ = try PrecisionSetup.apply(
                format, to: &loaded, calibPath: options.calibPath, method: method,
                pruning: options.sparsity == .twoFour ? pruning : nil,
                biasCorrection: options.biasCorrection, base: options.passContext)
        }
        return (notes, analysis)
    }

    /// `quantize`, then the backend: packed weights, the lowered program and the metadata.
    public static func compile(_ loaded: inout LoadedModel, options: CompileOptions, array: ArrayShape) throws -> CompiledModel {
        try checkStaticShapes(loaded)
        let (notes, analysis) = try quantize(&loaded, options: options)
        // The weight table first; then the weights are packed while the program is lowered
        // (lowering reads only the table), each on a thread of its own. A packing error,
        // the earlier stage, is the one reported when both fail.
        let plan: WeightSection.Plan
        do {
            plan = try WeightSection.plan(loaded.model.graph, arrayRows: array.rows, arrayColumns: array.columns) {
                array.rates[$0] ?? 1
            }
        } catch let e as IRError {
            throw loaded.error(e)
        }
        let graph = loaded.model.graph
        let weights: [UInt8], lowered: LoweredModel
        do {
            let stages = try parallelResults(2) { stage -> BackendStage in
                guard stage == 0 else {
                    return .program(try Lowering.lower(graph, layers: plan.layers, resources: array.resources))
                }
                let bytes = try WeightSection.pack(graph, plan)
                Console.log.info("packed \(plan.layers.count) layers' weights: \(bytes.count) bytes")
                return .weights(bytes)
            }
            guard case .weights(let w) = stages[0], case .program(let p) = stages[1] else { preconditionFailure() }
            (weights, lowered) = (w, p)
        } catch let e as IRError {
            throw loaded.error(e)
        }
        let section = (bytes: weights, layers: plan.layers)
        Console.log.info("lowered for \(array.targetName): \(lowered.program.instructions.count) instructions")
        let metadata = BundleMetadata(
            loaded, layers: section.layers, options: options, targetName: array.targetName,
            program: lowered, machine: array.machine)
        return CompiledModel(
            graph: loaded.model.graph, weights: section.bytes, layers: section.layers, lowered: lowered,
            metadata: metadata, notes: notes, analysis: analysis)
    }

    /// What each of the backend's two concurrent stages makes.
    private enum BackendStage {
        case weights([UInt8])
        case program(LoweredModel)
    }

    /// Every input must have a known shape: the NPU's buffers are sized at compile time.
    private static func checkStaticShapes(_ loaded: LoadedModel) throws {
        for v in loaded.model.graph.inputs {
            guard let shape = v.type.shape else {
                throw DriverError(
                    file: loaded.path, "input \"\(v.name)\" has no shape: give it with --input-shape \(v.name)=DIMS")
            }
            let symbolic = shape.dims.filter { $0.value == nil }
            guard symbolic.isEmpty else {
                let example = shape.dims.map { $0.value.map(String.init) ?? "1" }.joined(separator: ",")
                throw DriverError(
                    file: loaded.path,
                    "input \"\(v.name)\" has symbolic dimensions (\(symbolic.map { "\($0)" }.joined(separator: ", ")) in \(v.type)); "
                        + "the NPU's buffers are sized at compile time: fix them with --input-shape, e.g. --input-shape \(v.name)=\(example)"
                )
            }
        }
    }
}

extension CompiledModel {
    /// The bundle: the metadata, the program's descriptors and instructions, the constants
    /// and the weights.
    public func bundle() throws -> BundleWriter {
        try BundleWriter(
            metadata: metadata,
            sections: [
                BundleSection(.constants, lowered.constants), BundleSection(.weights, weights),
            ] + BundleProgram.sections(lowered.program))
    }
}
