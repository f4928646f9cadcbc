// The dependences of a program, in program order: for each instruction on a queue, the
// latest earlier instruction of each other queue that touches a byte it touches, one of the
// two writing it (read after write, write after read, write after write). The bytes are
// the descriptors' runs (`TensorDescriptor.byteRuns`), at the words `AccessTable` keeps;
// each descriptor's are worked out once, in order of address, runs that meet joined.

public struct DependenceWalk {
    public let units: Units
    /// Bytes each memory space holds; an operand reaching past them is an error.
    private let limits: [MemorySpace: Int]
    private var table: AccessTable
    /// Per descriptor, the memory instance it lies in (-1: none) and its bytes, once known.
    private var footprint: [(memory: Int, ranges: [(Int, Int)])?]
    /// Per memory instance, whether the walk looks at it.
    private let watched: [Bool]
    /// The current instruction's watched operands, kept between steps (no arrays per step).
    private var readFootprints: [(Int, [(Int, Int)])] = [], writeFootprints: [(Int, [(Int, Int)])] = []

    /// A walk of `program` on a machine of `units`; the table of accesses spans, per memory
    /// instance, the bytes the program's descriptors reach there (at most `limits`). Given
    /// `memories`, only accesses of those instances count: the dependences found are those
    /// through them, and per queue the latest of the walks of a partition of the instances
    /// is the latest of a walk of all of them.
    public init(units: Units, program: Program, limits: [MemorySpace: Int] = [:], memories: Set<Int>? = nil) {
        self.units = units
        self.limits = limits
        watched = (0..<(4 + units.clusters + units.tiles)).map { memories?.contains($0) ?? true }
        var bytes = [Int](repeating: 0, count: 4 + units.clusters + units.tiles)
        for d in program.descriptors {
            guard let m = try? units.memory(of: d), d.count > 0, watched[m] else { continue }
            let end =
                Int(d.address)
                + zip(d.dims, d.strides).reduce(d.element.addressBytes) {
                    $0 + max($1.0 - 1, 0) * max($1.1, 0) * d.element.addressBytes
                }
            bytes[m] = max(bytes[m], min(end, limits[d.space] ?? end))
        }
        table = AccessTable(bytes: bytes, units: units.count)
        footprint = Array(repeating: nil, count: program.descriptors.count)
    }

    /// Instruction `index` of `program`: the queue it runs on and what it depends on, the
    /// latest first (nil for the control queue's instructions). Errors name the operand.
    public mutating func step(_ index: Int, in program: Program) throws -> (unit: Int, dependences: [Dependence])? {
        let i = program.instructions[index]
        guard let unit = try units.unit(of: i, in: program) else { return nil }
        let (reads, writes) = i.operandAccess(program.descriptors)
        return (unit, try access(index, unit, reads, writes, program))
    }

    /// `step(_:in:)` for an instruction whose queue and operands are known already: `unit`
    /// (it runs on one), `reads` and `writes` as `Instruction.operandAccess` gives them.
    public mutating func step(
        _ index: Int, unit: Int, reads: UnsafeBufferPointer<UInt64>, writes: UnsafeBufferPointer<UInt64>, in program: Program
    ) throws -> [Dependence] {
        try access(index, unit, reads, writes, program)
    }

    /// Records the access of the operands' watched bytes; an instruction with none is not
    /// looked up at all.
    private mutating func access<C: Collection<UInt64>>(
        _ index: Int, _ unit: Int, _ reads: C, _ writes: C, _ program: Program
    ) throws -> [Dependence] {
        readFootprints.removeAll(keepingCapacity: true)
        writeFootprints.removeAll(keepingCapacity: true)
        for k in reads { if let f = try watchedFootprint(Int(k), program) { readFootprints.append(f) } }
        for k in writes { if let f = try watchedFootprint(Int(k), program) { writeFootprints.append(f) } }
        guard !readFootprints.isEmpty || !writeFootprints.isEmpty else { return [] }
        return table.access(index: index, unit: unit, reads: readFootprints, writes: writeFootprints)
    }

    /// Descriptor `k`'s memory instance and bytes when the walk watches that memory.
    private mutating func watchedFootprint(_ k: Int, _ program: Program) throws -> (Int, [(Int, Int)])? {
        let f = try footprint[k] ?? footprint(of: k, program)
        return f.memory >= 0 ? f : nil
    }

    /// Descriptor `k`'s memory instance and bytes, kept for its next use.
    private mutating func footprint(of k: Int, _ program: Program) throws -> (memory: Int, ranges: [(Int, Int)]) {
        let d = program.descriptors[k]
        guard let memory = try units.memory(of: d), watched[memory] else {
            footprint[k] = (-1, [])
            return (-1, [])
        }
        let ranges = Self.ranges(of: d)
        let low = ranges.first?.0 ?? 0, high = ranges.last?.1 ?? 0
        guard low >= 0, high <= limits[d.space] ?? Int.max else {
            throw ISAError(
                "d\(k) (\(d.text)) reaches bytes \(low)..<\(high) of \(d.space.rawValue)"
                    + (limits[d.space].map { ", which has \($0)" } ?? ""))
        }
        footprint[k] = (memory, ranges)
        return (memory, ranges)
    }

    /// The bytes of `d.byteRuns()` as ranges in order of address, ranges that meet joined.
    /// The dimensions are walked by decreasing stride, so that the runs come in order and
    /// more of them fold into one; only runs out of order then need sorting.
    static func ranges(of d: TensorDescriptor) -> [(Int, Int)] {
        guard d.count > 0 else { return [] }
        let moving = zip(d.dims, d.strides).filter { $0.0 > 1 && $0.1 != 0 }
        // Past `maxRuns` runs (counted as byteRuns counts them), byteRuns takes the whole span.
        var inner = 1, outer = moving[...]
        while let last = outer.last, last.1 == inner {
            inner *= last.0
            outer.removeLast()
        }
        if outer.reduce(1, { $0 * $1.0 }) > TensorDescriptor.maxRuns { return d.byteRuns() }
        // Each dimension as (size, positive stride), the largest stride first.
        let unit = d.element.addressBytes
        var base = Int(d.address)
        var dims = moving.map { n, s in
            if s < 0 { base += (n - 1) * s * unit }
            return (n, abs(s))
        }
        dims.sort { $0.1 > $1.1 }
        var run = 1
        while let last = dims.last, last.1 == run {
            run *= last.0
            dims.removeLast()
        }
        var offsets = [0]
        for (n, s) in dims { offsets = offsets.flatMap { o in (0..<n).map { o + $0 * s } } }
        var ordered = true
        for k in offsets.indices.dropFirst() where offsets[k] < offsets[k - 1] { ordered = false }
        if !ordered { offsets.sort() }
        var ranges: [(Int, Int)] = []
        for o in offsets {
            let (start, end) = (base + o * unit, base + (o + run) * unit)
            if let last = ranges.last, start <= last.1 {
                ranges[ranges.count - 1].1 = max(last.1, end)
            } else {
                ranges.append((start, end))
            }
        }
        return ranges
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
