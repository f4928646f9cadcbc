// Where Resize reads: per axis and output index, the source indices (two for linear, equal
// for nearest) and the weight of the second, or for cubic up to four source indices and
// their weights, from the node's modes, scales or sizes and roi. The interpreter computes
// Resize through it, and the backend lowers nearest Resize to the copies it names, so both
// read the same elements.

public struct ResizeGeometry: Sendable, Equatable {
    public var outputShape: [Int]
    /// Per axis, per output index: the lower and upper source index and the upper's weight.
    public var lower: [[Int]]
    public var upper: [[Int]]
    public var weight: [[Float]]
    public var nearest: Bool
    /// Cubic: per axis, per output index, the source indices with a nonzero weight (Keys'
    /// cubic convolution with `cubic_coeff_a`, indices beyond the edge clamped to it, or with
    /// `exclude_outside` dropped and the rest scaled to sum to 1) and those weights. Empty
    /// for nearest and linear.
    public var cubicIndex: [[[Int]]] = []
    public var cubicWeight: [[[Float]]] = []
    public var cubic: Bool { !cubicIndex.isEmpty }

    /// The geometry of Resize `node` on an input of `inputShape`, given its roi, scales and
    /// sizes operands' values (nil or empty when absent). With `axes`, those operands give
    /// the named axes alone (the others keep their extent, scale 1 and roi [0, 1]); sizes
    /// under `keep_aspect_ratio_policy` not_larger or not_smaller scale every named axis by
    /// the least or greatest of their ratios, the extents rounded half up. `antialias` is
    /// refused where it would filter (a linear resize that shrinks an axis).
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
        if node.int("antialias", default: 0) != 0, mode == "nearest" || factors.contains(where: { $0 < 1 }) {
            throw IRError(
                "antialias is supported only where it changes nothing (a linear or cubic resize that shrinks no axis)", at: node)
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
        // Source coordinate of output index `o` on axis `d`.
        func source(_ o: Int, _ d: Int) -> Float {
            let scale = factors[d], inN = Float(inputShape[d]), outN = Float(shape[d])
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
        outputShape = shape
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
        guard mode == "cubic" else { return }
        let a = node.float("cubic_coeff_a", default: -0.75), exclude = node.int("exclude_outside", default: 0) != 0
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
            cubicIndex.append(indices)
            cubicWeight.append(weights)
        }
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
        guard !nearest, !cubic, !inputShape.isEmpty else { return nil }
        let changed = inputShape.indices.filter { d in
            lower[d] != Array(0..<inputShape[d]) || weight[d].contains { $0 != 0 }
        }
        let first = changed.first ?? max(inputShape.count - 1, 0), last = changed.last ?? first
        var axes = Array(first...last).map { d in (inputShape[d], outputShape[d], lower[d], upper[d], weight[d]) }
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
        guard cubic, rank >= 2 else { return nil }
        for d in 0..<(rank - 2) {
            guard outputShape[d] == inputShape[d],
                (0..<inputShape[d]).allSatisfy({ cubicIndex[d][$0] == [$0] && cubicWeight[d][$0] == [1] })
            else { return nil }
        }
        func padded(_ d: Int) -> (index: [Int], weight: [Float]) {
            var index: [Int] = [], weight: [Float] = []
            for o in 0..<outputShape[d] {
                let taps = cubicIndex[d][o].count
                index += cubicIndex[d][o] + [Int](repeating: 0, count: 4 - taps)
                weight += cubicWeight[d][o] + [Float](repeating: 0, count: 4 - taps)
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
