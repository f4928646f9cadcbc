// The vector unit on integers: `vop`s whose elements are i32 or i64 (arithmetic, the
// comparisons, `where`), `vop cast` between f32, i32 and i64, and the selections that give
// int64 positions (`vopp argmax`, `argmin`, `topk`, `topk_index`), with the arithmetic of
// Formats/VectorArithmetic+Integers.swift (schemas/isa.md, "Integer elements").
import Formats
import ISA

extension Machine {
    /// The element types the vector unit computes on as integers.
    static let integerElements: Set<ElementType> = [.i32, .i64]

    /// An integer `vop`: the comparisons (a and b of one integer type, an f32 mask into
    /// dst), `where` (a an f32 mask, b and dst of one integer type), and the arithmetic of
    /// `VectorArithmetic.integerBinary`, `integerUnary` and `shifted` (a, b and dst of one
    /// type; the elements signed).
    mutating func integerVectorOp(_ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef) throws {
        guard a.dims == dst.dims else { throw SimulatorError("\(op): dst and a must have one shape") }
        if let compare = VectorArithmetic.integerComparisons[op] {
            guard dst.element == .f32, Self.integerElements.contains(a.element), b.element == a.element, b.dims == dst.dims
            else { throw SimulatorError("\(op): a and b must be of one integer type and shape, dst f32") }
            try storeFloats(dst, zip(try loadIntegers(a), try loadIntegers(b)).map { VectorArithmetic.mask(compare($0, $1)) })
            return
        }
        let bits = dst.element == .i32 ? 32 : 64
        if op == "where" {
            guard a.element == .f32, b.element == dst.element, b.dims == dst.dims, Self.integerElements.contains(dst.element)
            else { throw SimulatorError("where: a must be an f32 mask, b and dst of one integer type and shape") }
            let y = zip(try loadFloats(a), zip(try loadIntegers(b), try loadIntegers(dst))).map { $0 != 0 ? $1.0 : $1.1 }
            return try storeIntegers(dst, y)
        }
        guard a.element == dst.element else { throw SimulatorError("\(op): dst and a must be of one integer type") }
        let x = try loadIntegers(a)
        if VectorArithmetic.integerShifts.contains(op) {
            guard b.element == dst.element, b.dims == dst.dims else {
                throw SimulatorError("\(op): b must be of dst's integer type and shape")
            }
            try storeIntegers(
                dst,
                zip(x, try loadIntegers(b)).map {
                    VectorArithmetic.wrapped(
                        VectorArithmetic.shifted($0, by: $1, left: op == "shift_left", bits: bits, signed: true), bits: bits)
                })
        } else if let binary = VectorArithmetic.integerBinary[op] {
            guard b.element == dst.element, b.dims == dst.dims else {
                throw SimulatorError("\(op): b must be of dst's integer type and shape")
            }
            try storeIntegers(dst, zip(x, try loadIntegers(b)).map { VectorArithmetic.wrapped(binary($0, $1), bits: bits) })
        } else if let unary = VectorArithmetic.integerUnary[op] {
            try storeIntegers(dst, x.map { VectorArithmetic.wrapped(unary($0), bits: bits) })
        } else {
            throw SimulatorError("vop \(op) does not take integer elements")
        }
    }

    /// `vop cast`: a's elements (f32, i32 or i64) converted to dst's (f32, i32 or i64, not
    /// a's): an integer to float32 rounded to nearest even; a float32 to an integer
    /// truncated toward zero (`VectorArithmetic.truncated`); to i32, the low 32 bits.
    mutating func cast(_ dst: DescriptorRef, _ a: DescriptorRef) throws {
        let types: Set<ElementType> = [.f32, .i32, .i64]
        guard a.dims == dst.dims, types.contains(a.element), types.contains(dst.element), a.element != dst.element else {
            throw SimulatorError("cast: a and dst must be of one shape and two of f32, i32 and i64")
        }
        if dst.element == .f32 { return try storeFloats(dst, try loadIntegers(a).map { Float($0) }) }
        let x = a.element == .f32 ? try loadFloats(a).map(VectorArithmetic.truncated) : try loadIntegers(a)
        try storeIntegers(dst, x.map { VectorArithmetic.wrapped($0, bits: dst.element == .i32 ? 32 : 64) })
    }

    /// An integer reduction (`VectorArithmetic.integerReductions`) of a's rows of `c` elements
    /// into dst of a's element type, one element per row.
    mutating func integerReduceRows(_ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ c: Int) throws {
        guard let rule = VectorArithmetic.integerReductions[op], dst.element == a.element, c > 0,
            a.count % c == 0, dst.count == a.count / c
        else { throw SimulatorError("\(op) of integers needs a of whole rows of \(c) and dst of its type, one element per row") }
        let x = try loadIntegers(a), bits = a.element == .i32 ? 32 : 64
        try storeIntegers(
            dst,
            (0..<dst.count).map { r in
                VectorArithmetic.wrapped(x[(r * c)..<(r * c + c)].reduce(rule.start, rule.step), bits: bits)
            })
    }

    /// `vopp argmax` / `argmin`: a's rows of `record[0]` elements (f32, i32 or i64) to the
    /// index of each row's largest (smallest) element, the last of equal ones when
    /// `record[1]` is 1 (VectorArithmetic.argExtreme), into i64 dst of one element per row.
    mutating func argExtreme(_ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ record: [Int]) throws {
        let c = record[0], last = record[1] == 1
        guard dst.element == .i64, [.f32, .i32, .i64].contains(a.element), c > 0, a.count % c == 0, dst.count == a.count / c
        else { throw SimulatorError("\(op) needs a (f32, i32 or i64) of whole rows of \(c) and i64 dst of one element per row") }
        let largest = op == "argmax"
        let y: [Int64]
        if a.element == .f32 {
            let x = try loadFloats(a)
            y = (0..<dst.count).map { r in VectorArithmetic.argExtreme(count: c, largest: largest, last: last) { x[r * c + $0] } }
        } else {
            let x = try loadIntegers(a)
            y = (0..<dst.count).map { r in VectorArithmetic.argExtreme(count: c, largest: largest, last: last) { x[r * c + $0] } }
        }
        try storeIntegers(dst, y)
    }

    /// `vopp topk` / `topk_index`: a's f32 rows of `record[0]` elements, the `record[1]`
    /// first of each in TopK's order (`VectorArithmetic.topK`: largest first when `record[2]`
    /// is 1, else smallest; ties by position): their values into f32 dst (`topk`), or the
    /// elements of i64 b (a's shape: each value's index) at their positions into i64 dst
    /// (`topk_index`), `record[1]` elements per row. Every operand is read before dst is
    /// written, so dst may overlap them.
    mutating func topK(
        _ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef, _ record: [Int]
    ) throws {
        let (c, k, largest) = (record[0], record[1], record[2] == 1)
        let index = op == "topk_index"
        guard a.element == .f32, dst.element == (index ? .i64 : .f32), c > 0, (1...c).contains(k), a.count % c == 0,
            dst.count == a.count / c * k, !index || (b.element == .i64 && b.count == a.count)
        else {
            throw SimulatorError(
                "\(op) needs f32 a of whole rows of \(c)\(index ? ", i64 b of as many elements" : "") and "
                    + "\(index ? "i64" : "f32") dst of \(k) elements per row")
        }
        let x = try loadFloats(a), given = index ? try loadIntegers(b) : []
        var values: [Float] = [], picked: [Int64] = []
        for r in 0..<(a.count / c) {
            for j in VectorArithmetic.topK(count: c, k: k, largest: largest, { x[r * c + $0] }) {
                if index { picked.append(given[r * c + j]) } else { values.append(x[r * c + j]) }
            }
        }
        try index ? storeIntegers(dst, picked) : storeFloats(dst, values)
    }

    /// `vopp cumsum` (or `cumprod`, `product`): a's rows of `record[0]` elements (f32, i32 or
    /// i64) to their running sums (products) in dst of a's type and shape, exclusive when
    /// `record[1]` is 1, from each row's end when `record[2]` is 1 (VectorArithmetic.scan).
    mutating func scan(_ dst: DescriptorRef, _ a: DescriptorRef, _ record: [Int], product: Bool) throws {
        let c = record[0], exclusive = record[1] == 1, reverse = record[2] == 1
        let name = product ? "cumprod" : "cumsum"
        guard [.f32, .i32, .i64].contains(a.element), dst.element == a.element, dst.dims == a.dims, c > 0,
            a.count % c == 0
        else { throw SimulatorError("\(name) needs a (f32, i32 or i64) of whole rows of \(c) and dst of its type and shape") }
        /// Each row of `x` combined in place.
        func rows<T: Numeric>(_ x: inout [T], _ combine: (T, T) -> T) {
            x.withUnsafeMutableBufferPointer { x in
                for row in stride(from: 0, to: x.count, by: c) {
                    let at = x.baseAddress! + row
                    VectorArithmetic.scan(
                        at, at, count: c, exclusive: exclusive, reverse: reverse, identity: product ? 1 : 0,
                        combine: combine)
                }
            }
        }
        if a.element == .f32 {
            var x = try loadFloats(a)
            product ? rows(&x, *) : rows(&x, +)
            try storeFloats(dst, x)
        } else {
            // Sums and products of the sign-extended values wrap to the element's width like
            // the element's own.
            var x = try loadIntegers(a)
            product ? rows(&x, &*) : rows(&x, &+)
            try storeIntegers(dst, x)
        }
    }

    /// The i32 or i64 elements of `d`, sign-extended to 64 bits.
    func loadIntegers(_ d: DescriptorRef) throws -> [Int64] {
        guard Self.integerElements.contains(d.element) else { throw SimulatorError("\(d.text) is not i32 or i64") }
        let bytes = try readBytes(d, into: .bytes)
        return d.element == .i64
            ? (0..<d.count).map { Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            : (0..<d.count).map { Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
    }

    /// Stores `values` as `d`'s i32 (the low 32 bits of each) or i64 elements.
    mutating func storeIntegers(_ d: DescriptorRef, _ values: [Int64]) throws {
        guard Self.integerElements.contains(d.element) else { throw SimulatorError("\(d.text) is not i32 or i64") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * (d.element == .i64 ? 8 : 4))
        for v in values {
            if d.element == .i64 {
                withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
            } else {
                withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { bytes += $0 }
            }
        }
        try storeElements(d, bytes)
    }
}
