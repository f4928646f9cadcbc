// The dependences of a program, in program order: for each instruction on a queue, the
// latest earlier instruction of each other queue that touches a byte it touches, one of the
// two writing it (read after write, write after read, write after write). The bytes are
// the descriptors' runs (`TensorDescriptor.byteRuns`), at the words `AccessTable` keeps.

public struct DependenceWalk {
    public let units: Units
    /// Bytes each memory space holds; an operand reaching past them is an error.
    private let limits: [MemorySpace: Int]
    private var table: AccessTable

    /// A walk of `program` on a machine of `units`; the table of accesses spans, per memory
    /// instance, the bytes the program's descriptors reach there (at most `limits`).
    public init(units: Units, program: Program, limits: [MemorySpace: Int] = [:]) {
        self.units = units
        self.limits = limits
        var bytes = [Int](repeating: 0, count: 4 + units.clusters + units.tiles)
        for d in program.descriptors {
            guard let m = try? units.memory(of: d), d.count > 0 else { continue }
            let end =
                Int(d.address)
                + zip(d.dims, d.strides).reduce(d.element.addressBytes) {
                    $0 + max($1.0 - 1, 0) * max($1.1, 0) * d.element.addressBytes
                }
            bytes[m] = max(bytes[m], min(end, limits[d.space] ?? end))
        }
        table = AccessTable(bytes: bytes, units: units.count)
    }

    /// Instruction `index` of `program`: the queue it runs on and what it depends on, the
    /// latest first (nil for the control queue's instructions). Errors name the operand.
    public mutating func step(_ index: Int, in program: Program) throws -> (unit: Int, dependences: [Dependence])? {
        let i = program.instructions[index]
        guard let unit = try units.unit(of: i, in: program) else { return nil }
        let (reads, writes) = i.operandAccess()
        return (
            unit,
            table.access(index: index, unit: unit, reads: try footprints(reads, program), writes: try footprints(writes, program))
        )
    }

    private func footprints(_ operands: [UInt64], _ program: Program) throws -> [(Int, [(Int, Int)])] {
        try operands.compactMap { k in
            let d = program.descriptors[Int(k)]
            guard let memory = try units.memory(of: d) else { return nil }
            let runs = d.byteRuns()
            let low = runs.map(\.0).min() ?? 0, high = runs.map(\.1).max() ?? 0
            guard low >= 0, high <= limits[d.space] ?? Int.max else {
                throw ISAError(
                    "d\(k) (\(d.text)) reaches bytes \(low)..<\(high) of \(d.space.rawValue)"
                        + (limits[d.space].map { ", which has \($0)" } ?? ""))
            }
            return (memory, runs)
        }
    }
}

extension Units {
    /// A memory instance as `memory(of:)` numbers them: `dram`, `l3`, `l2 c1`, `sram c0.t3`.
    public func memoryText(_ memory: Int) -> String {
        switch memory {
        case 0: return "dram"
        case 3: return "l3"
        case 4..<(4 + clusters): return "l2 c\(memory - 4)"
        default:
            let tile = memory - 4 - clusters
            return "sram c\(tile / tilesPerCluster).t\(tile % tilesPerCluster)"
        }
    }
}
