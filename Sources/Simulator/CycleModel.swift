// The cycle model: when each instruction of a program starts and completes on the target.
// A list scheduler over the program in program order: an instruction starts once its unit
// is free, its operands' earlier writers (and, for a write, earlier readers) are done, and
// any `wait` on its queue is satisfied; it then occupies its unit for its cost. Units: per
// tile a matrix unit, a vector unit and `dma.queues_per_tile` DMA engines; per cluster
// `dma.queues_per_cluster` engines; every memory instance's bandwidth is shared by the
// transfers through it. schemas/cycles.md defines every rule; everything about the
// hardware comes from the target description.
import ISA
import Target

/// A program's schedule: each instruction's start and completion cycle, and what it moved.
public struct Schedule: Sendable {
    public var start: [Int]
    public var end: [Int]
    /// Bytes each instruction moved (dma, fill, gather's rows), and the target memory levels it read and
    /// wrote (-1: none).
    public var bytes: [Int]
    public var sourceLevel: [Int8]
    public var destinationLevel: [Int8]
    /// The unit each instruction ran on, as `Units` numbers them (-1: none, for nop and halt),
    /// and which of that queue's DMA engines took a transfer (0 for the other units).
    public var unit: [Int32]
    public var engine: [Int8]
    /// The cycle each instruction frees its unit: its completion less the latency during
    /// which the unit already takes the next one.
    public var released: [Int]
    /// Cycles until the last instruction completes.
    public var cycles: Int
}

public struct CycleModel {
    /// The target memory level (an index into `target.memories`) each ISA memory space lives
    /// in (`schemas/cycles.md`, Memories); l3 is absent on a target without such a level.
    public static func levels(of target: TargetDescription) -> [MemorySpace: Int] { CycleCosts.levels(of: target) }

    public let target: TargetDescription
    let costs: CycleCosts
    let levelOf: [MemorySpace: Int]
    /// Cycles per window of the shared-bandwidth ledgers.
    public static let ledgerWindow = 64

    public init(target: TargetDescription) {
        self.target = target
        costs = CycleCosts(target: target)
        levelOf = CycleCosts.levels(of: target)
    }

    var clusters: Int { target.compute.clusters }
    var tilesPerCluster: Int { target.compute.tilesPerCluster }
    var tiles: Int { target.tileCount }
    var units: Units { Units(clusters: clusters, tilesPerCluster: tilesPerCluster) }

    /// The precision an mma of weights in `weights` and activations in `activations` (format
    /// names) runs at: the wider of the two, fp32 counting as fp16.
    public static func macPrecision(weights: String, activations: String) -> MACPrecision {
        let index = { (f: String) in InstructionSet.formats.firstIndex(of: f) ?? 0 }
        return CycleCosts.precision(weights: index(weights), activations: index(activations))
    }

    /// Memory instances: dram, weights, constants, l3, one l2 per cluster, one sram per tile.
    private func instance(_ d: TensorDescriptor) throws -> Int {
        try Machine.memoryInstance(d, clusters: clusters, tilesPerCluster: tilesPerCluster)
    }

    /// The ledger a memory instance's transfers share: weights and constants live in DRAM.
    private func ledgerIndex(_ memory: Int) -> Int { memory == 1 || memory == 2 ? 0 : memory }

    struct Operand {
        var footprint: Footprint
        var level: Int
        var ledger: Int
        var bytes: Int
        var elements: Int
        var dims: [Int]
        /// The DMA engines this operand's place offers: its tile's, or its cluster's.
        var tile: Int?
        var cluster: Int?
    }

    func operand(_ d: TensorDescriptor) throws -> Operand {
        guard let level = levelOf[d.space] else {
            throw SimulatorError("the target has no memory level for \(d.space.rawValue)")
        }
        let m = try instance(d)
        let size = (try? Machine.elementSize(d.element)) ?? 0
        let bytes = size == 0 ? (d.count + 1) / 2 : d.count * size
        return Operand(
            footprint: HazardTracker.footprint(d, memory: m), level: level, ledger: ledgerIndex(m), bytes: bytes,
            elements: d.count, dims: d.dims, tile: d.space == .sram ? d.cluster * tilesPerCluster + d.tile : nil,
            cluster: d.space == .sram || d.space == .l2 ? d.cluster : nil)
    }

    /// Schedules `program`; `constants` is the constant section (pooling windows are read
    /// from its parameter records); `dramBytes` and `weightBytes` bound the program's DRAM and
    /// weight section (the last memory level's size when nil). An operand outside its memory
    /// is an error; errors name the instruction.
    public func schedule(
        _ program: Program, constants: [UInt8] = [], dramBytes: Int? = nil, weightBytes: Int? = nil
    ) throws -> Schedule {
        var state = SchedulerState(model: self, descriptors: program.descriptors.count)
        let m = target.memories
        for space in MemorySpace.allCases {
            state.limits[space] = levelOf[space].map { m[$0].sizeBytes }
        }
        state.limits[.dram] = dramBytes ?? state.limits[.dram]
        state.limits[.weights] = weightBytes ?? state.limits[.weights]
        state.limits[.constants] = constants.count
        for (index, instruction) in program.instructions.enumerated() {
            do {
                try state.issue(instruction, program, constants)
            } catch let e as SimulatorError {
                throw SimulatorError(at: index, of: program, e)
            }
            if instruction.spec.mnemonic == "halt" { break }
        }
        return state.schedule
    }

    /// Everything the scheduler remembers while it walks the program.
    struct SchedulerState {
        let model: CycleModel
        var schedule = Schedule(
            start: [], end: [], bytes: [], sourceLevel: [], destinationLevel: [], unit: [], engine: [], released: [], cycles: 0)
        var hazards: HazardTracker
        var ledgers: [BandwidthLedger]
        /// When each unit is free: per tile matrix, vector; DMA engines per tile, then per cluster.
        var matrixFree: [Int], vectorFree: [Int], tileDMAFree: [[Int]], clusterDMAFree: [[Int]]
        var matrixMode: [MatrixMode?]
        /// Per matrix unit, its last mma: out descriptor, end of its stream, completion.
        var lastMMA: [(out: UInt64, streamEnd: Int, end: Int)?]
        /// Per queue (`Units` numbers them): the latest completion issued to it so far, and
        /// the cycle a `wait` lets it issue again.
        var queueEnd: [Int]
        var gate: [Int]
        /// Per semaphore, the cycles of its signals so far, earliest first.
        var signals: [Int: [Int]] = [:]
        var operands: [Operand?]
        /// Bytes of each memory space an operand may reach.
        var limits: [MemorySpace: Int] = [:]

        init(model: CycleModel, descriptors: Int) {
            self.model = model
            let tiles = model.tiles, clusters = model.clusters
            hazards = HazardTracker(memories: 4 + clusters + tiles, block: model.target.alignment.activationBytes)
            let m = model.target.memories
            let instanceLevel =
                [m.count - 1, m.count - 1, m.count - 1, model.levelOf[.l3] ?? m.count - 1]
                + Array(repeating: model.levelOf[.l2] ?? 0, count: clusters) + Array(repeating: 0, count: tiles)
            ledgers = instanceLevel.map {
                BandwidthLedger(bytesPerCycle: m[$0].bandwidthBytesPerCycle, window: CycleModel.ledgerWindow)
            }
            matrixFree = Array(repeating: 0, count: tiles)
            vectorFree = matrixFree
            tileDMAFree = Array(repeating: Array(repeating: 0, count: model.target.dma.perTile), count: tiles)
            clusterDMAFree = Array(repeating: Array(repeating: 0, count: model.target.dma.perCluster), count: clusters)
            matrixMode = Array(repeating: nil, count: tiles)
            lastMMA = Array(repeating: nil, count: tiles)
            operands = Array(repeating: nil, count: descriptors)
            queueEnd = Array(repeating: 0, count: model.units.count)
            gate = queueEnd
        }

        mutating func operand(_ program: Program, _ index: UInt64) throws -> Operand {
            if let o = operands[Int(index)] { return o }
            let d = program.descriptors[Int(index)]
            var o = try model.operand(d)
            let low = o.footprint.runs.map(\.0).min() ?? 0, high = o.footprint.runs.map(\.1).max() ?? 0
            guard low >= 0, high <= limits[d.space] ?? 0 else {
                throw SimulatorError(
                    "d\(index) (\(d.text)) reaches bytes \(low)..<\(high) of \(d.space.rawValue), "
                        + "which has \(limits[d.space] ?? 0)"
                )
            }
            // Nothing writes the bundle's sections: their reads need no hazards.
            if d.space == .weights || d.space == .constants { o.footprint.runs = [] }
            operands[Int(index)] = o
            return o
        }

        /// The number of the queue a `signal` or `wait` names.
        func unit(_ queue: UInt64, _ place: UInt64) throws -> Int {
            do { return try model.units.unit(queue: Int(queue), at: Place(raw: place)) } catch let e as ISAError {
                throw SimulatorError(e.description)
            }
        }

        mutating func record(
            _ start: Int, _ end: Int, unit: Int, released: Int? = nil, engine: Int = 0, bytes: Int = 0,
            from: Int = -1, to: Int = -1
        ) {
            schedule.released.append(released ?? end)
            schedule.unit.append(Int32(unit))
            schedule.engine.append(Int8(engine))
            schedule.start.append(start)
            schedule.end.append(end)
            schedule.bytes.append(bytes)
            schedule.sourceLevel.append(Int8(from))
            schedule.destinationLevel.append(Int8(to))
            schedule.cycles = max(schedule.cycles, end)
        }

        mutating func issue(_ i: Instruction, _ program: Program, _ constants: [UInt8]) throws {
            switch i.spec.mnemonic {
            case "nop", "halt":
                record(schedule.cycles, schedule.cycles, unit: -1)
            case "signal":
                let q = try unit(i["after"], i["unit"])
                let at = queueEnd[q]
                let sem = Int(i["sem"])
                var k = signals[sem]?.count ?? 0
                while k > 0 && signals[sem]![k - 1] > at { k -= 1 }
                signals[sem, default: []].insert(at, at: k)
                record(at, at, unit: q)
            case "wait":
                let (q, sem, count) = (try unit(i["queue"], i["unit"]), Int(i["sem"]), Int(i["count"]))
                var at = 0
                if count > 0 {
                    let times = signals[sem] ?? []
                    guard times.count >= count else {
                        throw SimulatorError(
                            "waits for s\(sem) to reach \(count), but only \(times.count) signals precede it: "
                                + "the program deadlocks"
                        )
                    }
                    at = times[count - 1]
                }
                gate[q] = max(gate[q], at)
                record(at, at, unit: q)
            case "dma", "fill", "gather", "scatter":
                try transfer(i, program)
            case "mma", "mmag":
                try matrix(i, program)
            case "vop", "vopp", "quant", "dequant":
                try vector(i, program, constants)
            default:
                throw SimulatorError("the cycle model has no cost for \(i.spec.mnemonic)")
            }
        }
    }
}
