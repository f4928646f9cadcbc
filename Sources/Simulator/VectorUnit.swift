// The simulator's vector unit: `vop` (element-wise ops, each element by itself) and `vopp`
// (ops with a parameter record: layer normalization and softmax over rows, pooling, hard
// sigmoid), with the arithmetic of Formats/VectorArithmetic.swift where the ISA says so
// (schemas/isa.md).
import Formats
import ISA

extension Machine {
    mutating func vectorOp(_ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef, _ imm: Float)
        throws
    {
        if op == "cast" { return try cast(dst, a) }
        if Self.integerElements.contains(dst.element) || Self.integerElements.contains(a.element) {
            return try integerVectorOp(op, dst, a, b)
        }
        guard dst.element == .f32, a.element == .f32, a.dims == dst.dims else {
            throw SimulatorError("\(op): dst and a must be f32 of one shape")
        }
        var x = try loadFloats(a)
        let y: [Float]
        if op == "where" {
            // dst = a != 0 ? b : dst, element by element: dst holds the other branch.
            guard b.element == .f32, b.dims == dst.dims else { throw SimulatorError("where: b must be f32 of dst's shape") }
            y = zip(x, zip(try loadFloats(b), try loadFloats(dst))).map { $0 != 0 ? $1.0 : $1.1 }
        } else if let binary = Self.binaryOps[op] {
            guard b.element == .f32, b.dims == dst.dims else { throw SimulatorError("\(op): b must be f32 of dst's shape") }
            // In place over a's values: add, sub and mul inline, the rest through their
            // functions.
            let other = try loadFloats(b)
            x.withUnsafeMutableBufferPointer { x in
                other.withUnsafeBufferPointer { b in
                    switch op {
                    case "add": for k in x.indices { x[k] = x[k] + b[k] }
                    case "sub": for k in x.indices { x[k] = x[k] - b[k] }
                    case "mul": for k in x.indices { x[k] = x[k] * b[k] }
                    default: for k in x.indices { x[k] = binary(x[k], b[k]) }
                    }
                }
            }
            y = x
        } else if let unary = VectorArithmetic.unary(op) {
            y = x.map(unary)
        } else {
            switch op {
            case "copy": y = x
            case "not": y = x.map { VectorArithmetic.mask($0 == 0) }
            case "leaky_relu": y = x.map { $0 < 0 ? $0 * imm : $0 }
            case "elu": y = x.map { VectorArithmetic.elu($0, alpha: imm) }
            case "add_scalar": y = x.map { $0 + imm }
            case "mul_scalar": y = x.map { $0 * imm }
            case "div_scalar": y = x.map { $0 / imm }
            case "max_scalar": y = x.map { max($0, imm) }
            case "min_scalar": y = x.map { min($0, imm) }
            default: throw SimulatorError("\(op) is not an operation of vop (schemas/isa.md)")
            }
        }
        try storeFloats(dst, y)
    }

    /// The `vop`s of two operands, element by element.
    static let binaryOps: [String: @Sendable (Float, Float) -> Float] = {
        var ops = VectorArithmetic.maskOps
        ops["add"] = { (x: Float, y: Float) -> Float in x + y }
        ops["sub"] = { (x: Float, y: Float) -> Float in x - y }
        ops["mul"] = { (x: Float, y: Float) -> Float in x * y }
        ops["div"] = { (x: Float, y: Float) -> Float in x / y }
        ops["max"] = VectorArithmetic.maximum
        ops["min"] = VectorArithmetic.minimum
        ops["pow"] = VectorArithmetic.power
        ops["prelu"] = VectorArithmetic.prelu
        ops["fmod"] = VectorArithmetic.remainder
        return ops
    }()

    /// A parameter record: 16 int32 at 4 x `index` bytes into the constant section.
    private func record(_ index: Int) throws -> [Int] {
        let at = 4 * index
        guard at >= 0, at + 64 <= memories[2].size else {
            throw SimulatorError("parameter record \(index) is outside the constant section")
        }
        return (0..<16).map { j in
            Int(Int32(littleEndian: memories[2].bytes.loadUnaligned(fromByteOffset: at + 4 * j, as: Int32.self)))
        }
    }

    mutating func parameterizedOp(
        _ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef, _ params: Int
    ) throws {
        let r = try record(params)
        switch op {
        case "max_pool", "average_pool", "max_pool_index": try pool(op, dst, a, r)
        case "layer_norm", "softmax", "log_softmax": try rows(op, dst, a, b, r)
        case _ where VectorArithmetic.reductionNames.contains(op): try reduceRows(op, dst, a, r[0])
        case "reduce_carry": try reduceCarry(dst, a, b, r)
        case "standardize": try standardize(dst, a, b, r[0])
        case "clamp":
            // Record: the low and high bounds' float32 bit patterns.
            guard dst.element == .f32, a.element == .f32, a.dims == dst.dims else {
                throw SimulatorError("clamp: dst and a must be f32 of one shape")
            }
            let (low, high) = (
                Float(bitPattern: UInt32(truncatingIfNeeded: r[0])), Float(bitPattern: UInt32(truncatingIfNeeded: r[1]))
            )
            try storeFloats(dst, try loadFloats(a).map { min(max($0, low), high) })
        case "hard_sigmoid", "selu":
            // Record: two float32 bit patterns (hard_sigmoid: alpha, beta; selu: alpha, gamma).
            guard dst.element == .f32, a.element == .f32, a.dims == dst.dims else {
                throw SimulatorError("\(op): dst and a must be f32 of one shape")
            }
            let (p, q) = (
                Float(bitPattern: UInt32(truncatingIfNeeded: r[0])), Float(bitPattern: UInt32(truncatingIfNeeded: r[1]))
            )
            let x = try loadFloats(a)
            try storeFloats(
                dst,
                op == "selu"
                    ? x.map { VectorArithmetic.selu($0, alpha: p, gamma: q) }
                    : x.map { VectorArithmetic.hardSigmoid($0, alpha: p, beta: q) })
        case "resize": try resize(dst, a, r)
        case "resize_cubic": try resizeCubic(dst, a, r)
        case "instance_norm": try instanceNorm(dst, a, b, r)
        case "argmax", "argmin": try argExtreme(op, dst, a, r)
        case "topk", "topk_index": try topK(op, dst, a, b, r)
        case "cumsum", "cumprod": try scan(dst, a, r, product: op == "cumprod")
        case "lrn":
            // Record: size, then alpha's, beta's and bias's float32 bits; a and dst [C, P].
            guard a.element == .f32, dst.element == .f32, a.dims == dst.dims, a.dims.count == 2, r[0] > 0 else {
                throw SimulatorError("lrn needs f32 a and dst of one shape [C, P] and a size of at least 1")
            }
            func bits(_ k: Int) -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: r[k])) }
            let x = try loadFloats(a)
            var y = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    VectorArithmetic.lrn(
                        x.baseAddress!, y.baseAddress!, channels: a.dims[0], positions: a.dims[1], stride: a.dims[1],
                        size: r[0], alpha: bits(1), beta: bits(2), bias: bits(3))
                }
            }
            try storeFloats(dst, y)
        default: throw SimulatorError("\(op) is not an operation of vopp (schemas/isa.md)")
        }
    }

    /// `count` int32 values (or float32 bit patterns) at 4 x `index` bytes into the constant section.
    private func constantWords(_ index: Int, _ count: Int) throws -> [UInt32] {
        let at = 4 * index
        guard index >= 0, count >= 0, at + 4 * count <= memories[2].size else {
            throw SimulatorError("a table of \(count) values at \(index) is outside the constant section")
        }
        return (0..<count).map { j in
            UInt32(littleEndian: memories[2].bytes.loadUnaligned(fromByteOffset: at + 4 * j, as: UInt32.self))
        }
    }

    /// Linear resize of [C, H, W] planes into [C, OH, OW], or of [C, D, H, W] volumes into
    /// [C, OD, OH, OW] (record: H, W, OH, OW, then the constant-section indices of the lower
    /// rows, upper rows and row weights, and of the lower columns, upper columns and column
    /// weights; for volumes, then D, OD and the depth axis's three tables).
    private mutating func resize(_ dst: DescriptorRef, _ a: DescriptorRef, _ r: [Int]) throws {
        let (h, w, oh, ow) = (r[0], r[1], r[2], r[3])
        let volume = a.dims.count == 4
        let (d, od) = volume ? (r[10], r[11]) : (1, 1)
        let inner = volume ? [d, h, w] : [h, w], outer = volume ? [od, oh, ow] : [oh, ow]
        guard a.dims.count == dst.dims.count, a.dims.count == 3 || volume, a.dims[0] == dst.dims[0],
            Array(a.dims.dropFirst()) == inner, Array(dst.dims.dropFirst()) == outer, a.element == .f32, dst.element == .f32
        else {
            throw SimulatorError("resize needs f32 [C, \(inner)] in and [C, \(outer)] out")
        }
        func axis(_ at: Int, _ n: Int, _ limit: Int) throws -> VectorArithmetic.ResizeAxis {
            func indices(_ at: Int) throws -> [Int] {
                let v = try constantWords(at, n).map { Int(Int32(bitPattern: $0)) }
                guard v.allSatisfy({ (0..<limit).contains($0) }) else { throw SimulatorError("resize reads outside its plane") }
                return v
            }
            return (try indices(r[at]), try indices(r[at + 1]), try constantWords(r[at + 2], n).map(Float.init(bitPattern:)))
        }
        let rows = try axis(4, oh, h), columns = try axis(7, ow, w)
        let depth = volume ? try axis(12, od, d) : ([0], [0], [0])
        let x = try loadFloats(a)
        var y = [Float](repeating: 0, count: dst.count)
        let (inCount, outCount) = (d * h * w, od * oh * ow)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                for plane in 0..<a.dims[0] {
                    VectorArithmetic.resizeVolume(
                        x.baseAddress! + plane * inCount, height: h, width: w, y.baseAddress! + plane * outCount,
                        depth: depth, rows: rows, columns: columns)
                }
            }
        }
        try storeFloats(dst, y)
    }

    /// Cubic resize of [C, H, W] planes into [C, OH, OW] (record: H, W, OH, OW, then the
    /// constant-section indices of the row taps' indices and weights, 4 x OH each, and of
    /// the column taps' indices and weights, 4 x OW each).
    private mutating func resizeCubic(_ dst: DescriptorRef, _ a: DescriptorRef, _ r: [Int]) throws {
        let (h, w, oh, ow) = (r[0], r[1], r[2], r[3])
        guard a.dims.count == 3, dst.dims.count == 3, a.dims[0] == dst.dims[0], Array(a.dims.dropFirst()) == [h, w],
            Array(dst.dims.dropFirst()) == [oh, ow], a.element == .f32, dst.element == .f32
        else {
            throw SimulatorError("resize_cubic needs f32 [C, \(h), \(w)] in and [C, \(oh), \(ow)] out")
        }
        func axis(_ at: Int, _ n: Int, _ limit: Int) throws -> VectorArithmetic.CubicAxis {
            let index = try constantWords(r[at], 4 * n).map { Int(Int32(bitPattern: $0)) }
            guard index.allSatisfy({ (0..<limit).contains($0) }) else {
                throw SimulatorError("resize_cubic reads outside its plane")
            }
            return (index, try constantWords(r[at + 1], 4 * n).map(Float.init(bitPattern:)))
        }
        let rows = try axis(4, oh, h), columns = try axis(6, ow, w)
        let x = try loadFloats(a)
        var y = [Float](repeating: 0, count: dst.count)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                for plane in 0..<a.dims[0] {
                    VectorArithmetic.resizeCubicPlane(
                        x.baseAddress! + plane * h * w, height: h, width: w, y.baseAddress! + plane * oh * ow, rows: rows,
                        columns: columns)
                }
            }
        }
        try storeFloats(dst, y)
    }

    /// Row ops over `a`'s elements in row-major order, `record[0]` to a row, into `dst` of
    /// `a`'s shape. layer_norm (record: row length C, epsilon's float32 bits) reads its
    /// scale and bias from `b`: C values (scale only) or 2C (scale, then bias).
    private mutating func rows(
        _ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef, _ record: [Int]
    ) throws {
        let c = record[0]
        guard a.element == .f32, dst.element == .f32, a.dims == dst.dims, c > 0, a.count % c == 0 else {
            throw SimulatorError("\(op) needs f32 a and dst of one shape, whole rows of \(c)")
        }
        let x = try loadFloats(a)
        var y = [Float](repeating: 0, count: x.count)
        if op == "layer_norm" {
            let affine = try loadFloats(b)
            guard affine.count == c || affine.count == 2 * c else {
                throw SimulatorError("layer_norm's b holds \(affine.count) values, not \(c) (scale) or \(2 * c) (scale, bias)")
            }
            let epsilon = Float(bitPattern: UInt32(truncatingIfNeeded: record[1]))
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    affine.withUnsafeBufferPointer { p in
                        let bias = affine.count == 2 * c ? p.baseAddress! + c : nil
                        for row in 0..<(x.count / c) {
                            _ = VectorArithmetic.layerNorm(
                                x.baseAddress! + row * c, y.baseAddress! + row * c, count: c, scale: p.baseAddress!,
                                bias: bias, epsilon: epsilon)
                        }
                    }
                }
            }
        } else {
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    for row in 0..<(x.count / c) {
                        VectorArithmetic.softmax(
                            x.baseAddress! + row * c, y.baseAddress! + row * c, count: c, log: op == "log_softmax")
                    }
                }
            }
        }
        try storeFloats(dst, y)
    }

    /// Instance normalization of a's rows of `record[0]` elements (epsilon's float32 bits in
    /// `record[1]`) into dst of a's shape; b is f32 [2, R] for R rows: row r's scale b[0, r]
    /// and bias b[1, r].
    private mutating func instanceNorm(_ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef, _ record: [Int]) throws {
        let size = record[0], epsilon = Float(bitPattern: UInt32(truncatingIfNeeded: record[1]))
        guard a.element == .f32, dst.element == .f32, a.dims == dst.dims, size > 0, a.count % size == 0 else {
            throw SimulatorError("instance_norm needs f32 a and dst of one shape, whole rows of \(size)")
        }
        let rows = a.count / size, affine = try loadFloats(b)
        guard affine.count == 2 * rows else {
            throw SimulatorError("instance_norm's b holds \(affine.count) values, not \(2 * rows) (a scale and a bias per row)")
        }
        let x = try loadFloats(a)
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                for row in 0..<rows {
                    VectorArithmetic.instanceNorm(
                        x.baseAddress! + row * size, y.baseAddress! + row * size, count: size, scale: affine[row],
                        bias: affine[rows + row], epsilon: epsilon)
                }
            }
        }
        try storeFloats(dst, y)
    }

    /// A reduction of every row of `record[0]` elements of `a` (row-major) to one element
    /// of `dst`, which holds one element per row.
    private mutating func reduceRows(_ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ c: Int) throws {
        if Self.integerElements.contains(a.element) { return try integerReduceRows(op, dst, a, c) }
        guard a.element == .f32, dst.element == .f32, c > 0, a.count % c == 0, dst.count == a.count / c else {
            throw SimulatorError("\(op) needs f32 a of whole rows of \(c) and f32 dst of one element per row")
        }
        let x = try loadFloats(a)
        let y = x.withUnsafeBufferPointer { x in
            (0..<(x.count / c)).map { row in VectorArithmetic.reduce(op, x.baseAddress! + row * c, count: c) }
        }
        try storeFloats(dst, y)
    }

    /// `vopp reduce_carry` (record: C, kind, start, finish, divisor, epsilon's bits): a's
    /// rows of C f32 elements, each a piece of a longer row, reduced (kind:
    /// `VectorArithmetic.ReductionKind`) from the kind's own start (start 1) or from the
    /// running value in b (start 0: one i64 per row, a Double's bits). Squared deviations
    /// (kind 4) carry two i64 per row, the running value and the center the deviations are
    /// from, b always read for the center. Into dst: the running value (finish 0: i64, as
    /// carried), it rounded to float32 (1), a sum divided by the divisor and rounded (2) or
    /// kept a Double (3: one i64 per row), or from squared deviations, with inv = 1 /
    /// sqrt(running / divisor + epsilon), the normalization factors Float(inv) and
    /// Float(center · inv) (4: two f32 per row) or the center and inv kept Doubles (5: two
    /// i64 per row, what `standardize` reads).
    private mutating func reduceCarry(_ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef, _ r: [Int]) throws {
        let (c, start, finish, divisor) = (r[0], r[2], r[3], r[4])
        let epsilon = Float(bitPattern: UInt32(truncatingIfNeeded: r[5]))
        guard let kind = VectorArithmetic.ReductionKind(rawValue: r[1]), (0...1).contains(start), (0...5).contains(finish)
        else {
            throw SimulatorError(
                "reduce_carry's parameter record (kind \(r[1]), start \(start), finish \(finish)) is not one of the op's")
        }
        let deviations = kind == .squaredDeviation
        let applies: Bool
        switch finish {
        case 0: applies = true
        case 1: applies = !deviations
        case 2, 3: applies = kind == .sum && divisor > 0
        default: applies = deviations && divisor > 0
        }
        guard applies else {
            throw SimulatorError(
                "reduce_carry's finish \(finish) does not apply to kind \(r[1]) (divisor \(divisor))")
        }
        let rows = c > 0 && a.count % c == 0 ? a.count / c : 0
        // Elements per row of the running values and of dst.
        let carried = deviations ? 2 : 1
        let out = finish == 0 ? carried : (finish >= 4 ? 2 : 1)
        let outElement: ElementType = [0, 3, 5].contains(finish) ? .i64 : .f32
        guard a.element == .f32, rows > 0, dst.count == rows * out, dst.element == outElement else {
            throw SimulatorError(
                "reduce_carry needs f32 a of whole rows of \(c) and dst of \(out) \(outElement) per row")
        }
        var running = [Double](repeating: kind.start, count: rows), center = [Double](repeating: 0, count: rows)
        if start == 0 || deviations {
            guard b.element == .i64, b.count == rows * carried else {
                throw SimulatorError("reduce_carry's running values b must be \(carried) i64 per row (\(rows) rows)")
            }
            let values = try loadIntegers(b).map { Double(bitPattern: UInt64(bitPattern: $0)) }
            for row in 0..<rows {
                if start == 0 { running[row] = values[carried * row] }
                if deviations { center[row] = values[carried * row + 1] }
            }
        }
        let x = try loadFloats(a)
        x.withUnsafeBufferPointer { x in
            for row in 0..<rows {
                running[row] = VectorArithmetic.accumulate(
                    kind, x.baseAddress! + row * c, count: c, from: running[row], center: center[row])
            }
        }
        func bits(_ v: Double) -> Int64 { Int64(bitPattern: v.bitPattern) }
        switch finish {
        case 0:
            try storeIntegers(
                dst, (0..<rows).flatMap { deviations ? [bits(running[$0]), bits(center[$0])] : [bits(running[$0])] })
        case 1: try storeFloats(dst, running.map { Float($0) })
        case 2: try storeFloats(dst, running.map { Float($0 / Double(divisor)) })
        case 3: try storeIntegers(dst, running.map { bits($0 / Double(divisor)) })
        default:
            let inv = (0..<rows).map {
                VectorArithmetic.inverseDeviation(squaredDeviations: running[$0], count: divisor, epsilon: epsilon)
            }
            if finish == 5 {
                try storeIntegers(dst, (0..<rows).flatMap { [bits(center[$0]), bits(inv[$0])] })
            } else {
                try storeFloats(dst, (0..<rows).flatMap { [Float(inv[$0]), Float(center[$0] * inv[$0])] })
            }
        }
    }

    /// `vopp standardize` (record: C): a's rows of C f32 elements, each x into
    /// Float((Double(x) - mean) · inv) in dst of a's shape; b holds two i64 per row, the
    /// Doubles' bits of the row's mean and inverse deviation (reduce_carry's finish 5).
    private mutating func standardize(_ dst: DescriptorRef, _ a: DescriptorRef, _ b: DescriptorRef, _ c: Int) throws {
        let rows = c > 0 && a.count % c == 0 ? a.count / c : 0
        guard a.element == .f32, dst.element == .f32, a.dims == dst.dims, rows > 0 else {
            throw SimulatorError("standardize needs f32 a and dst of one shape, whole rows of \(c)")
        }
        guard b.element == .i64, b.count == 2 * rows else {
            throw SimulatorError("standardize's moments b must be 2 i64 per row (\(rows) rows)")
        }
        let moments = try loadIntegers(b).map { Double(bitPattern: UInt64(bitPattern: $0)) }
        var y = try loadFloats(a)
        for i in y.indices {
            let row = i / c
            y[i] = VectorArithmetic.standardized(y[i], mean: moments[2 * row], inverseDeviation: moments[2 * row + 1])
        }
        try storeFloats(dst, y)
    }

    /// Pooling over [C, H, W] planes (record: kernel h, w; strides h, w; pads top, left,
    /// bottom, right; dilations h, w; count_include_pad): max, or the sum of the window's
    /// elements inside the input in (ky, kx) order divided by their count (or, with
    /// count_include_pad, by the positions inside the padded input). `max_pool_index`
    /// writes where each maximum is (the record's last five: the index of a's first element,
    /// the index step from plane to plane, the rows above a's first, the input's height, and
    /// 1 for column-major indices), i64, -1 for a window with no position inside a.
    private mutating func pool(_ op: String, _ dst: DescriptorRef, _ a: DescriptorRef, _ r: [Int]) throws {
        let indices = op == "max_pool_index"
        guard a.dims.count == 3, dst.dims.count == 3, a.dims[0] == dst.dims[0], a.element == .f32,
            dst.element == (indices ? .i64 : .f32)
        else {
            throw SimulatorError("\(op) needs f32 [C, H, W] in and \(indices ? "i64" : "f32") [C, OH, OW] out")
        }
        let (kh, kw, sh, sw, pt, pl, pb, pr, dh, dw) = (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
        // A record that is not a window's (a params index naming other constants) is refused.
        let limit = 1 << 20
        guard [kh, kw, sh, sw, dh, dw].allSatisfy({ (1...limit).contains($0) }),
            [pt, pl, pb, pr].allSatisfy({ (-limit...limit).contains($0) })
        else {
            throw SimulatorError("\(op)'s parameter record is not a window (kernel, strides, pads, dilations)")
        }
        let includePad = r[10] != 0
        let (c, h, w) = (a.dims[0], a.dims[1], a.dims[2]), (oh, ow) = (dst.dims[1], dst.dims[2])
        let (base, planeStep, rowsAbove, height, columnMajor) = (r[11], r[12], r[13], r[14], r[15] == 1)
        if indices {
            guard planeStep >= 0, rowsAbove >= 0, height >= h + rowsAbove, base >= 0, r[15] == 0 || columnMajor else {
                throw SimulatorError("max_pool_index's parameter record is not a place in its input (base, steps, order)")
            }
        }
        let x = try loadFloats(a)
        var y = [Float](repeating: 0, count: c * oh * ow), at = [Int64](repeating: -1, count: indices ? c * oh * ow : 0)
        for plane in 0..<c {
            for i in 0..<oh {
                for j in 0..<ow {
                    var best = -Float.infinity, sum: Float = 0, count = 0, padded = 0, found = -1
                    for ky in 0..<kh {
                        let row = i * sh - pt + ky * dh
                        if row >= h + pb { continue }
                        for kx in 0..<kw {
                            let col = j * sw - pl + kx * dw
                            if col >= w + pr { continue }
                            padded += 1
                            if row < 0 || col < 0 || row >= h || col >= w { continue }
                            let v = x[(plane * h + row) * w + col]
                            if indices {
                                // Where the maximum is: the first position, then each that takes it.
                                let position = columnMajor ? col * height + row + rowsAbove : (row + rowsAbove) * w + col
                                if found < 0 { found = position }
                                if v > best || v.isNaN { (best, found) = (v, position) }
                            } else if v > best || v.isNaN {
                                best = v
                            }
                            sum += v
                            count += 1
                        }
                    }
                    y[(plane * oh + i) * ow + j] =
                        op != "average_pool"
                        ? best
                        : (includePad ? sum / Float(padded) : (count > 0 ? sum / Float(count) : 0))
                    if indices, found >= 0 { at[(plane * oh + i) * ow + j] = Int64(base + plane * planeStep + found) }
                }
            }
        }
        if indices {
            try storeIntegers(dst, at)
            return
        }
        try storeFloats(dst, y)
    }
}
