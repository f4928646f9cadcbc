// A tensor descriptor: where a tensor lives and how it is laid out. Instructions name
// their operands by index into the program's descriptor table, which keeps every
// instruction 16 bytes however many dimensions its operands have.

/// Where a descriptor's address points.
public enum MemorySpace: String, Sendable, CaseIterable {
    /// Device DRAM: inputs, outputs, activations that leave the chip.
    case dram
    /// The bundle's weight section, mapped in DRAM.
    case weights
    /// The bundle's constant section, mapped in DRAM.
    case constants
    /// The global on-chip buffer.
    case l3
    /// A cluster's shared buffer (the descriptor names the cluster).
    case l2
    /// A tile's SRAM (the descriptor names the cluster and the tile).
    case sram

    var isPerCluster: Bool { self == .l2 || self == .sram }
}

/// Element types of descriptors. `packed` is a weight tile in the layout its instruction's
/// format implies (codes, block scales, 2:4 metadata); its shape counts bytes.
public enum ElementType: String, Sendable, CaseIterable {
    case f32, f16, bf16, f8e4m3, f8e5m2, e2m1, i8, u8, i32, i64, bool, packed
}

public struct TensorDescriptor: Sendable, Equatable {
    public static let maxRank = 6
    /// Bytes per descriptor in the table.
    public static let size = 64

    public var space: MemorySpace
    public var element: ElementType
    /// The cluster (l2, sram) and tile (sram); 0 elsewhere.
    public var cluster: Int
    public var tile: Int
    /// Byte address within the space.
    public var address: UInt64
    public var dims: [Int]
    /// Per dimension, the step between neighbours, in elements.
    public var strides: [Int]

    public init(
        _ space: MemorySpace, _ element: ElementType, cluster: Int = 0, tile: Int = 0, address: UInt64,
        dims: [Int], strides: [Int]? = nil
    ) throws {
        self.space = space
        self.element = element
        self.cluster = cluster
        self.tile = tile
        self.address = address
        self.dims = dims
        self.strides = strides ?? TensorDescriptor.rowMajor(dims)
        try validate()
    }

    /// Row-major strides of `dims`.
    public static func rowMajor(_ dims: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: dims.count)
        for i in stride(from: dims.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * dims[i + 1] }
        return s
    }

    public var count: Int { dims.reduce(1, *) }

    /// Addresses, and the bytes a descriptor reaches, stay below this.
    public static let addressLimit: UInt64 = 1 << 48

    private func validate() throws {
        guard dims.count <= Self.maxRank, strides.count == dims.count else {
            throw ISAError("a descriptor has at most \(Self.maxRank) dimensions, one stride each")
        }
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int(UInt32.max) }),
            strides.allSatisfy({ $0 >= Int(Int32.min) && $0 <= Int(Int32.max) })
        else {
            throw ISAError("dimensions must fit 32 bits unsigned and strides 32 bits signed")
        }
        guard (0..<256).contains(cluster), (0..<256).contains(tile) else { throw ISAError("cluster and tile are 0...255") }
        // The bytes it reaches stay within 2^48, so that every footprint fits 64-bit arithmetic.
        guard address < Self.addressLimit else { throw ISAError("the address must be below 2^48") }
        var elements = 1, reach = Int(address)
        for (d, s) in zip(dims, strides) {
            let (e, o1) = elements.multipliedReportingOverflow(by: d)
            let (step, o2) = (max(d - 1, 0) * Int(s.magnitude)).multipliedReportingOverflow(by: element.addressBytes)
            let (r, o3) = reach.addingReportingOverflow(step)
            guard !o1, !o2, !o3, e <= Int(Self.addressLimit), r < Int(Self.addressLimit) else {
                throw ISAError("its elements reach past 2^48 bytes")
            }
            (elements, reach) = (e, r)
        }
        if !space.isPerCluster && (cluster != 0 || tile != 0) || space == .l2 && tile != 0 {
            throw ISAError("\(space.rawValue) names no \(space == .l2 ? "tile" : "cluster or tile")")
        }
    }

    /// The 64 bytes: space, element type, rank, cluster, tile, 3 zero bytes, the address
    /// (u64), 6 dims (u32) and 6 strides (i32), unused ones 0; little-endian.
    public func encoded() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.size) { b, count in
            encode(into: UnsafeMutableRawBufferPointer(b))
            count = Self.size
        }
    }

    /// Writes the 64 bytes of `encoded()` to the start of `b`, which holds at least 64.
    public func encode(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.size)
        let b = UnsafeMutableRawBufferPointer(rebasing: buffer[..<Self.size])
        b.initializeMemory(as: UInt8.self, repeating: 0)
        b[0] = UInt8(Self.spaces.firstIndex(of: space)!)
        b[1] = UInt8(Self.elements.firstIndex(of: element)!)
        b[2] = UInt8(dims.count)
        b[3] = UInt8(cluster)
        b[4] = UInt8(tile)
        b.storeBytes(of: address.littleEndian, toByteOffset: 8, as: UInt64.self)
        for (i, d) in dims.enumerated() { b.storeBytes(of: UInt32(d).littleEndian, toByteOffset: 16 + 4 * i, as: UInt32.self) }
        for (i, s) in strides.enumerated() {
            b.storeBytes(of: UInt32(bitPattern: Int32(s)).littleEndian, toByteOffset: 40 + 4 * i, as: UInt32.self)
        }
    }

    public init(decoding bytes: some Collection<UInt8>) throws {
        let b = Array(bytes)
        guard b.count == Self.size else { throw ISAError("a descriptor is \(Self.size) bytes, not \(b.count)") }
        self = try b.withUnsafeBytes { try Self.decode($0) }
    }

    private static let spaces = MemorySpace.allCases
    private static let elements = ElementType.allCases

    /// The descriptor in the 64 bytes at `b`'s start, read in place.
    static func decode(_ b: UnsafeRawBufferPointer) throws -> TensorDescriptor {
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        guard Int(b[0]) < spaces.count else { throw ISAError("unknown memory space \(b[0])") }
        guard Int(b[1]) < elements.count else { throw ISAError("unknown element type \(b[1])") }
        let rank = Int(b[2])
        guard rank <= Self.maxRank else { throw ISAError("rank \(rank) is over \(Self.maxRank)") }
        guard b[5] == 0, b[6] == 0, b[7] == 0,
            (rank..<Self.maxRank).allSatisfy({ u32(16 + 4 * $0) == 0 && u32(40 + 4 * $0) == 0 })
        else {
            throw ISAError("reserved bytes and unused dimensions must be 0")
        }
        return try TensorDescriptor(
            spaces[Int(b[0])], elements[Int(b[1])], cluster: Int(b[3]), tile: Int(b[4]),
            address: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            dims: (0..<rank).map { Int(u32(16 + 4 * $0)) }, strides: (0..<rank).map { Int(Int32(bitPattern: u32(40 + 4 * $0))) })
    }

    /// `sram c0.t3 f32 @0x100 [1,20,64] [1280,64,1]`
    public var text: String {
        let place: String
        switch space {
        case .sram: place = " c\(cluster).t\(tile)"
        case .l2: place = " c\(cluster)"
        default: place = ""
        }
        let list = { (v: [Int]) in "[" + v.map(String.init).joined(separator: ",") + "]" }
        return "\(space.rawValue)\(place) \(element.rawValue) @0x\(String(address, radix: 16)) \(list(dims)) \(list(strides))"
    }

    /// Parses `text`'s form.
    public init(text: String) throws {
        var words = text.split(separator: " ").map(String.init)
        guard let first = words.first, let space = MemorySpace(rawValue: first) else {
            throw ISAError(
                "a descriptor starts with its memory space (\(MemorySpace.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        words.removeFirst()
        var cluster = 0, tile = 0
        if space.isPerCluster {
            guard let place = words.first, place.hasPrefix("c") else {
                throw ISAError("\(space.rawValue) needs its place: c0.t3 or c0")
            }
            let parts = place.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
            guard let c = Int(parts[0]), parts.count == (space == .sram ? 2 : 1),
                parts.count == 1 || (parts[1].hasPrefix("t") && Int(parts[1].dropFirst()) != nil)
            else {
                throw ISAError("\"\(place)\" is not a place (c0.t3 for sram, c0 for l2)")
            }
            cluster = c
            tile = parts.count == 2 ? Int(parts[1].dropFirst())! : 0
            words.removeFirst()
        }
        guard words.count == 4, let element = ElementType(rawValue: words[0]), words[1].hasPrefix("@0x"),
            let address = UInt64(words[1].dropFirst(3), radix: 16)
        else {
            throw ISAError("expected: ELEMENT @0xADDRESS [dims] [strides]")
        }
        func list(_ s: String) throws -> [Int] {
            guard s.hasPrefix("["), s.hasSuffix("]") else { throw ISAError("\"\(s)\" is not a [list]") }
            let inner = s.dropFirst().dropLast()
            return try inner.isEmpty
                ? []
                : inner.split(separator: ",").map {
                    guard let v = Int($0) else { throw ISAError("\"\($0)\" is not an integer") }
                    return v
                }
        }
        try self.init(
            space, element, cluster: cluster, tile: tile, address: address, dims: list(words[2]),
            strides: list(words[3]))
    }
}
