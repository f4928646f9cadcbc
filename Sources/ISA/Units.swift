// The queues of a machine, numbered: per tile a DMA, a matrix and a vector queue, per
// cluster the queue of its own DMA engines; and the queue each instruction runs on
// (schemas/isa.md, "Machine model").

/// The queues of a machine of `clusters` x `tilesPerCluster` tiles, each numbered once:
/// tile queues first (DMA, then matrix, then vector, each over the tiles cluster-major),
/// then the clusters' DMA queues.
public struct Units: Sendable, Equatable {
    public let clusters: Int
    public let tilesPerCluster: Int

    public init(clusters: Int, tilesPerCluster: Int) {
        self.clusters = clusters
        self.tilesPerCluster = tilesPerCluster
    }

    public var tiles: Int { clusters * tilesPerCluster }
    public var count: Int { 3 * tiles + clusters }

    /// `signal`'s and `wait`'s choice of queue, by index.
    public static let queues: [Queue] = [.dma, .matrix, .vector]

    /// The number of queue `queue` (0 dma, 1 matrix, 2 vector) at `place`; an error names
    /// a place the machine does not have, or a cluster's matrix or vector queue.
    public func unit(queue: Int, at place: Place) throws -> Int {
        guard place.cluster < clusters else { throw ISAError("\(place.text): the machine has \(clusters) clusters") }
        guard let tile = place.tile else {
            guard queue == 0 else {
                throw ISAError(
                    "\(place.text) has no \(Self.queues[queue].rawValue) queue: a cluster's own engines are DMA engines")
            }
            return 3 * tiles + place.cluster
        }
        guard tile < tilesPerCluster else { throw ISAError("\(place.text): a cluster has \(tilesPerCluster) tiles") }
        return queue * tiles + place.cluster * tilesPerCluster + tile
    }

    /// The queue and place of unit `unit`.
    public func place(of unit: Int) -> (queue: Int, place: Place) {
        if unit >= 3 * tiles { return (0, Place(cluster: unit - 3 * tiles, tile: nil)) }
        let (queue, tile) = unit.quotientAndRemainder(dividingBy: tiles)
        return (queue, Place(cluster: tile / tilesPerCluster, tile: tile % tilesPerCluster))
    }

    /// A unit as `signal` and `wait` name it: `matrix c0.t3`.
    public func text(_ unit: Int) -> String {
        let (queue, place) = place(of: unit)
        return "\(Self.queues[queue].rawValue) \(place.text)"
    }

    /// The unit an instruction of `program` runs on, nil for the control queue's (`nop`,
    /// `halt`, `signal`, `wait`): `mma` and the vector unit's on the tile of their
    /// destination; `dma`, `fill`, `gather` and `scatter` on the DMA queue of the tile whose SRAM they
    /// touch (the destination's first, then the source's, then the indices'), else of the
    /// cluster whose L2 they touch (in the same order), else of cluster 0.
    public func unit(of i: Instruction, in program: Program) throws -> Int? {
        let operands = Self.placeOperands[Int(i.spec.opcode)]
        func d(_ k: Int) -> TensorDescriptor { program.descriptors[Int(i.value(at: operands[k]))] }
        switch i.spec.queue {
        case .control: return nil
        case .matrix, .vector:
            let dst = d(0)
            guard dst.space == .sram else { throw ISAError("\(i.spec.mnemonic) writes a tile's SRAM, not \(dst.space.rawValue)") }
            return try unit(queue: i.spec.queue == .matrix ? 1 : 2, at: Place(cluster: dst.cluster, tile: dst.tile))
        case .dma:
            if let t = operands.indices.lazy.map(d).first(where: { $0.space == .sram }) {
                return try unit(queue: 0, at: Place(cluster: t.cluster, tile: t.tile))
            }
            let cluster = operands.indices.lazy.map(d).first(where: { $0.space == .l2 })?.cluster ?? 0
            return try unit(queue: 0, at: Place(cluster: cluster, tile: nil))
        }
    }

    /// Per opcode, the fields that place an instruction, in the order `unit(of:in:)` looks
    /// at them: `out` or `dst` for the matrix and vector queues, `dst`, `src` and `idx` (those
    /// it has) for the DMA queue.
    private static let placeOperands: [[Int]] = (0..<256).map { opcode in
        guard let spec = InstructionSet.spec(opcode: UInt8(opcode)) else { return [] }
        let names = spec.queue == .matrix ? ["out"] : spec.queue == .vector ? ["dst"] : ["dst", "src", "idx"]
        return names.compactMap { spec.index(of: $0) }
    }
}

extension Instruction {
    private static let signalSpec = InstructionSet.spec(mnemonic: "signal")!
    private static let waitSpec = InstructionSet.spec(mnemonic: "wait")!

    /// `signal after=Q, unit=P, sem=S` for queue `unit` of `units`.
    public static func signal(after unit: Int, of units: Units, sem: Int) throws -> Instruction {
        let (queue, place) = units.place(of: unit)
        let values = SIMD4<UInt64>(UInt64(queue), place.raw, UInt64(sem), 0)
        return try Instruction(signalSpec) { values[$0] }
    }

    /// `wait queue=Q, unit=P, sem=S, count=N` holding queue `unit` of `units`.
    public static func wait(_ unit: Int, of units: Units, sem: Int, count: Int) throws -> Instruction {
        let (queue, place) = units.place(of: unit)
        let values = SIMD4<UInt64>(UInt64(queue), place.raw, UInt64(sem), UInt64(count))
        return try Instruction(waitSpec) { values[$0] }
    }
}
