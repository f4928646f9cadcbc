// Where Resize reads: per axis and output index, the source indices (two for linear, equal
// for nearest) and the weight of the second, or for cubic up to four source indices and
// their weights (an antialiased resize that shrinks: as many as its stretched filter
// reaches), from the node's modes, scales or sizes and roi. The interpreter computes
// Resize through it, and the backend lowers nearest Resize to the copies it names, so both
// read the same elements.

public struct ResizeGeometry: Sendable, Equatable {
    public var outputShape: [Int]
    /// Per axis, per output index: the lower and upper source index and the upper's weight.
    public var lower: [[Int]]
    public var upper: [[Int]]
    public var weight: [[Float]]
    public var nearest: Bool
    /// Cubic, or linear with `antialias` where it filters: per axis, per output index, the
    /// source indices with a nonzero weight (Keys' cubic convolution with `cubic_coeff_a`, or
    /// the filter stretched by 1 / scale where an axis shrinks; indices beyond the edge
    /// clamped to it, or with `exclude_outside` dropped and the rest scaled to sum to 1) and
    /// those weights. Empty for nearest and for linear without antialias.
    public var tapIndex: [[[Int]]] = []
    public var tapWeight: [[[Float]]] = []
    public var tapped: Bool { !tapIndex.isEmpty }
    /// The most taps an output index of any axis reads (cubic: at most 4).
    public var mostTaps: Int { tapIndex.lazy.flatMap { $0 }.map(\.count).max() ?? 0 }
    /// Per axis, the scale: output extent over input extent (or the given scale).
    public var factors: [Float]
    var coordinate: String
    var roi: [Float]
    var inputShape: [Int]

    /// The geometry of Resize `node` on an input of `inputShape`, given its roi, scales and
    /// sizes operands' values (nil or empty when absent). With `axes`, those operands give
    /// the named axes alone (the others keep their extent, scale 1 and roi [0, 1]); sizes
    /// under `keep_aspect_ratio_policy` not_larger or not_smaller scale every named axis by
    /// the least or greatest of their ratios, the extents rounded half up. `antialias`
    /// (linear and cubic) stretches each axis's filter by max(1, 1 / scale), as ONNX's
    /// reference and onnxruntime do; with nearest it is refused.
    public init(_ node: Node, inputShape: [Int], roi: [Float]?, scales: [Float]?, sizes: [Int]?) throws {
        let rank = inputShape.count
        let mode = node.string("mode", default: "nearest")
        let coordinate = node.string("coordinate_transformation_mode", default: "half_pixel")
        let nearestMode = node.string("nearest_mode", default: "round_prefer_floor")
        guard ["nearest", "linear", "cubic"].contains(mode) else {
            throw IRError("mode \"\(mode)\" is not nearest, linear or cubic", at: node)
        }
        let coordinates = [
            "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
            "tf_half_pixel_for_nn", "tf_crop_and_resize",
        ]
        guard coordinates.contains(coordinate) else {
            throw IRError(
                "coordinate_transformation_mode \"\(coordinate)\" is not one of \(coordinates.joined(separator: ", "))",
                at: node)
        }
        var axes = Array(0..<rank)
        if let named = node.ints("axes") {
            axes = try named.map { a in
                guard (-rank..<rank).contains(a) else { throw IRError("axis \(a) is out of range for rank \(rank)", at: node) }
                return a < 0 ? a + rank : a
            }
            guard Set(axes).count == axes.count else { throw IRError("axes \(named) name an axis twice", at: node) }
        }
        var factors = [Float](repeating: 1, count: rank)
        var shape = inputShape
        if let s = sizes, !s.isEmpty {
            guard s.count == axes.count else { throw IRError("sizes has \(s.count) values for \(axes.count) axes", at: node) }
            let policy = node.string("keep_aspect_ratio_policy", default: "stretch")
            let ratios = axes.indices.map { Double(s[$0]) / Double(inputShape[axes[$0]]) }
            switch policy {
            case "stretch":
                for (k, a) in axes.enumerated() {
                    shape[a] = s[k]
                    factors[a] = Float(s[k]) / Float(inputShape[a])
                }
            case "not_larger", "not_smaller":
                let scale = (policy == "not_larger" ? ratios.min() : ratios.max()) ?? 1
                for a in axes {
                    shape[a] = Int(scale * Double(inputShape[a]) + 0.5)
                    factors[a] = Float(scale)
                }
            default:
                throw IRError("keep_aspect_ratio_policy \"\(policy)\" is not stretch, not_larger or not_smaller", at: node)
            }
        } else if let sc = scales, !sc.isEmpty {
            guard sc.count == axes.count else { throw IRError("scales has \(sc.count) values for \(axes.count) axes", at: node) }
            for (k, a) in axes.enumerated() {
                factors[a] = sc[k]
                shape[a] = Int((Float(inputShape[a]) * sc[k]).rounded(.down))
            }
        } else {
            throw IRError("Resize needs scales or sizes", at: node)
        }
        let antialias = node.int("antialias", default: 0) != 0 && factors.contains(where: { $0 < 1 })
        if node.int("antialias", default: 0) != 0 && mode == "nearest" {
            throw IRError("antialias applies to linear and cubic resizes, not nearest", at: node)
        }
        var roi = roi ?? []
        if coordinate == "tf_crop_and_resize" && roi.count != 2 * axes.count {
            throw IRError(
                "tf_crop_and_resize needs a roi of \(2 * axes.count) values (a start and an end per axis), not \(roi.count)",
                at: node)
        }
        if roi.count == 2 * axes.count, axes != Array(0..<rank) {
            var full = [Float](repeating: 0, count: rank) + [Float](repeating: 1, count: rank)
            for (k, a) in axes.enumerated() {
                full[a] = roi[k]
                full[rank + a] = roi[axes.count + k]
            }
            roi = full
        }
        (self.factors, self.coordinate, self.roi, self.inputShape) = (factors, coordinate, roi, inputShape)
        outputShape = shape
        func source(_ o: Int, _ d: Int) -> Float { self.source(o, axis: d) }
        func rounded(_ v: Float, _ n: Int) -> Int {
            let r: Float
            switch nearestMode {
            case "floor": r = v.rounded(.down)
            case "ceil": r = v.rounded(.up)
            case "round_prefer_ceil": r = (v - v.rounded(.down) == 0.5) ? v.rounded(.up) : v.rounded()
            default: r = (v - v.rounded(.down) == 0.5) ? v.rounded(.down) : v.rounded()
            }
            return min(max(Int(r), 0), n - 1)
        }
        self.nearest = mode == "nearest"
        (lower, upper, weight) = ([], [], [])
        for d in 0..<rank {
            var l = [Int](), h = [Int](), w = [Float]()
            for o in 0..<shape[d] {
                let s = source(o, d)
                if coordinate == "tf_crop_and_resize" && !(0...Float(inputShape[d] - 1)).contains(s) {
                    throw IRError(
                        "tf_crop_and_resize samples axis \(d) at \(s), outside the input (0 to \(inputShape[d] - 1)): "
                            + "extrapolation_value is not supported (keep the roi within [0, 1])", at: node)
                }
                if mode == "nearest" || inputShape[d] == 1
                    || factors[d] == 1 && coordinate != "align_corners" && coordinate != "tf_crop_and_resize"
                {
                    // An axis nearest resizing leaves as it is (scale 1, no crop) keeps each index,
                    // as onnxruntime keeps it: tf_half_pixel_for_nn's o + 0.5 would round up to o + 1.
                    let kept = factors[d] == 1 && shape[d] == inputShape[d] && coordinate != "tf_crop_and_resize"
                    let i =
                        mode == "nearest"
                        ? (kept ? o : rounded(s, inputShape[d])) : min(max(Int(s.rounded(.down)), 0), inputShape[d] - 1)
                    l.append(i)
                    h.append(i)
                    w.append(0)
                } else {
                    let c = min(max(s, 0), Float(inputShape[d] - 1))
                    let i0 = Int(c.rounded(.down)), i1 = min(i0 + 1, inputShape[d] - 1)
                    l.append(i0)
                    h.append(i1)
                    w.append(c - Float(i0))
                }
            }
            lower.append(l)
            upper.append(h)
            weight.append(w)
        }
        let a = node.float("cubic_coeff_a", default: -0.75), exclude = node.int("exclude_outside", default: 0) != 0
        if antialias {
            for d in 0..<rank {
                let taps = (0..<shape[d]).map { o in
                    Self.antialiasTaps(
                        at: Double(source(o, d)), scale: Double(factors[d]), extent: inputShape[d], cubic: mode == "cubic",
                        a: Double(a), exclude: exclude)
                }
                tapIndex.append(taps.map(\.index))
                tapWeight.append(taps.map(\.weight))
            }
            return
        }
        guard mode == "cubic" else { return }
        for d in 0..<rank {
            var indices: [[Int]] = [], weights: [[Float]] = []
            for o in 0..<shape[d] {
                let s = source(o, d), n = inputShape[d]
                let base = s.rounded(.down), t = s - base
                var taps: [(Int, Float)] = []
                for (k, w) in Self.cubicCoefficients(t, a).enumerated() {
                    let i = Int(base) - 1 + k
                    if exclude && !(0..<n).contains(i) { continue }
                    taps.append((min(max(i, 0), n - 1), w))
                }
                if exclude {
                    let total = taps.reduce(Float(0)) { $0 + $1.1 }
                    taps = taps.map { ($0.0, total != 0 ? $0.1 / total : 0) }
                }
                taps = taps.filter { $0.1 != 0 }
                indices.append(taps.map(\.0))
                weights.append(taps.map(\.1))
            }
            tapIndex.append(indices)
            tapWeight.append(weights)
        }
    }

    /// The source coordinate of output index `o` on axis `d`, by the coordinate
    /// transformation mode.
    public func source(_ o: Int, axis d: Int) -> Float {
        let rank = inputShape.count
        let scale = factors[d], inN = Float(inputShape[d]), outN = Float(outputShape[d])
        switch coordinate {
        case "asymmetric": return Float(o) / scale
        case "align_corners": return outN == 1 ? 0 : Float(o) * (inN - 1) / (outN - 1)
        case "pytorch_half_pixel": return outN > 1 ? (Float(o) + 0.5) / scale - 0.5 : 0
        case "tf_half_pixel_for_nn": return (Float(o) + 0.5) / scale
        case "tf_crop_and_resize":
            let start = roi[d], end = roi[d + rank]
            return outN > 1
                ? start * (inN - 1) + Float(o) * (end - start) * (inN - 1) / (outN - 1) : 0.5 * (start + end) * (inN - 1)
        case "half_pixel_symmetric":
            // The output's extent as scaled (before rounding down) centres the sampling.
            let adjustment = outN / (scale * inN), offset = inN / 2 * (1 - adjustment)
            return offset + (Float(o) + 0.5) / scale - 0.5
        default: return (Float(o) + 0.5) / scale - 0.5
        }
    }

    /// The taps of an antialiased resize at source coordinate `x` on an axis of `extent`
    /// shrunk by `scale` (ONNX's reference): the filter (the triangle, or Keys' cubic with
    /// `a`) at min(scale, 1) times the distances, normalized to sum to 1; the window of taps
    /// nearest `x`, ties to the smaller index; indices past an edge clamped to it (or, with
    /// `exclude`, dropped and the rest normalized again). Taps of one index are merged, in
    /// order of index; those of weight 0 are left out.
    static func antialiasTaps(at x: Double, scale: Double, extent n: Int, cubic: Bool, a: Double, exclude: Bool)
        -> (index: [Int], weight: [Float])
    {
        let scale = min(scale, 1), floor = x.rounded(.down)
        // At an integer coordinate the window prefers the pixel on its left.
        let ratio = x == floor ? 1 : x - floor
        var coefficients: [Double]
        if cubic {
            func filter(_ t: Double) -> Double {
                let t = abs(t)
                if t <= 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
                return t < 2 ? ((a * t - 5 * a) * t + 8 * a) * t - 4 * a : 0
            }
            let first = Int((-2 / scale).rounded(.down)) + 1
            coefficients = (first..<(2 - first)).map { filter(scale * (Double($0) - ratio)) }
        } else {
            let first = Int((-1 / scale).rounded(.down)) + 1
            coefficients = (first..<(2 - first)).map { min(max(1 - abs((Double($0) - ratio) * scale), 0), 1) }
        }
        let total = coefficients.reduce(0, +)
        coefficients = coefficients.map { $0 / total }
        let taps = coefficients.count, pad = (taps + 1) / 2
        let shifted = x + Double(pad), p = shifted.rounded(.down), fraction = shifted - p
        let offset =
            taps % 2 == 0
            ? (fraction == 0 ? -(taps / 2) : -(taps / 2) + 1)
            : (fraction <= 0.5 ? -((taps - 1) / 2) : -((taps - 1) / 2) + 1)
        let start = Int(p) + offset - pad
        if exclude {
            for k in 0..<taps where !(0..<n).contains(start + k) { coefficients[k] = 0 }
            let kept = coefficients.reduce(0, +)
            if kept != 0 { coefficients = coefficients.map { $0 / kept } }
        }
        var merged: [Int: Double] = [:]
        for k in 0..<taps { merged[min(max(start + k, 0), n - 1), default: 0] += coefficients[k] }
        let kept = merged.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        return (kept.map(\.key), kept.map { Float($0.value) })
    }

    /// Keys' cubic convolution weights of the four source indices around a coordinate
    /// `t` (0 ≤ t < 1) past the first one's successor: at distances 1 + t, t, 1 − t and 2 − t.
    static func cubicCoefficients(_ t: Float, _ a: Float) -> [Float] {
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return [far(1 + t), near(t), near(1 - t), far(2 - t)]
    }

    /// A linear resize as the vector unit runs it: `planes` volumes of `dims` [D, H, W]
    /// resampled into `outputDims`, each axis with its tables (lower and upper source index
    /// and the upper's weight per output index).
    public struct LinearVolume: Sendable, Equatable {
        public var planes: Int
        public var dims: [Int]
        public var outputDims: [Int]
        public var lower: [[Int]]
        public var upper: [[Int]]
        public var weight: [[Float]]
    }

    /// The volumes of a linear resize of an input of `inputShape` whose changed axes lie
    /// within three: the axes from the first one it changes to the last, then every axis after
    /// those as one (left alone), padded in front with axes of one index to make three; the
    /// axes before the first changed one count the volumes. Nil for nearest, or when the
    /// changed axes span more than three. An axis is left alone when each output index reads
    /// itself with no weight on its upper index; its tables are then the identity with weight
    /// 0, so every corner that would take its upper index is skipped and its factor in a
    /// corner's weight is 1: the volume's sum is the general N-linear sum (the interpreter's),
    /// term for term in the same order.
    public func linearVolume(inputShape: [Int]) -> LinearVolume? {
        guard !nearest, !tapped, !inputShape.isEmpty else { return nil }
        let changed = inputShape.indices.filter { d in
            lower[d] != Array(0..<inputShape[d]) || weight[d].contains { $0 != 0 }
        }
        let first = changed.first ?? max(inputShape.count - 1, 0), last = changed.last ?? first
        var axes: [(Int, Int, [Int], [Int], [Float])] = (first...last).map { d in
            (inputShape[d], outputShape[d], lower[d], upper[d], weight[d])
        }
        let rest = inputShape[(last + 1)...].reduce(1, *)
        if last + 1 < inputShape.count {
            axes.append((rest, rest, Array(0..<rest), Array(0..<rest), Array(repeating: 0, count: rest)))
        }
        guard axes.count <= 3 else { return nil }
        while axes.count < 3 { axes.insert((1, 1, [0], [0], [0]), at: 0) }
        return LinearVolume(
            planes: inputShape[..<first].reduce(1, *), dims: axes.map(\.0), outputDims: axes.map(\.1), lower: axes.map(\.2),
            upper: axes.map(\.3), weight: axes.map(\.4))
    }

    /// A cubic resize of the last two axes as the vector unit runs it: `planes` [H, W]
    /// planes into [OH, OW], each axis with four taps per output index (`index`, `weight`,
    /// `4 * o + k`; a weight of 0 is no tap), the taps in the interpreter's order.
    public struct CubicPlanes: Sendable, Equatable {
        public var planes: Int
        public var height, width, outputHeight, outputWidth: Int
        public var rowIndex: [Int], rowWeight: [Float]
        public var columnIndex: [Int], columnWeight: [Float]
    }

    /// The planes of a cubic resize of an input of `inputShape` (rank 2 or more) that leaves
    /// every axis but the last two as it is (each output index reads itself alone, weight 1);
    /// nil otherwise.
    public func cubicPlanes(inputShape: [Int]) -> CubicPlanes? {
        let rank = inputShape.count
        guard tapped, rank >= 2, mostTaps <= 4 else { return nil }
        for d in 0..<(rank - 2) {
            guard outputShape[d] == inputShape[d],
                (0..<inputShape[d]).allSatisfy({ tapIndex[d][$0] == [$0] && tapWeight[d][$0] == [1] })
            else { return nil }
        }
        func padded(_ d: Int) -> (index: [Int], weight: [Float]) {
            var index: [Int] = [], weight: [Float] = []
            for o in 0..<outputShape[d] {
                let taps = tapIndex[d][o].count
                index += tapIndex[d][o] + [Int](repeating: 0, count: 4 - taps)
                weight += tapWeight[d][o] + [Float](repeating: 0, count: 4 - taps)
            }
            return (index, weight)
        }
        let (rows, columns) = (padded(rank - 2), padded(rank - 1))
        return CubicPlanes(
            planes: inputShape[..<(rank - 2)].reduce(1, *), height: inputShape[rank - 2], width: inputShape[rank - 1],
            outputHeight: outputShape[rank - 2], outputWidth: outputShape[rank - 1], rowIndex: rows.index,
            rowWeight: rows.weight, columnIndex: columns.index, columnWeight: columns.weight)
    }
}
