// Where Resize reads: per axis and output index, the source indices (two for linear, equal
// for nearest) and the weight of the second, from the node's modes, scales or sizes and roi.
// The interpreter computes Resize through it, and the backend lowers nearest Resize to the
// copies it names, so both read the same elements.

public struct ResizeGeometry: Sendable, Equatable {
    public var outputShape: [Int]
    /// Per axis, per output index: the lower and upper source index and the upper's weight.
    public var lower: [[Int]]
    public var upper: [[Int]]
    public var weight: [[Float]]
    public var nearest: Bool

    /// The geometry of Resize `node` on an input of `inputShape`, given its roi, scales and
    /// sizes operands' values (nil or empty when absent).
    public init(_ node: Node, inputShape: [Int], roi: [Float]?, scales: [Float]?, sizes: [Int]?) throws {
        let rank = inputShape.count
        let mode = node.string("mode", default: "nearest")
        let coordinate = node.string("coordinate_transformation_mode", default: "half_pixel")
        let nearestMode = node.string("nearest_mode", default: "round_prefer_floor")
        guard mode == "nearest" || mode == "linear" else { throw IRError("mode \"\(mode)\" is not supported", at: node) }
        var factors = [Float](repeating: 1, count: rank)
        var shape = inputShape
        if let s = sizes, !s.isEmpty {
            guard s.count == rank else { throw IRError("sizes has \(s.count) values for rank \(rank)", at: node) }
            shape = s
            factors = (0..<rank).map { Float(s[$0]) / Float(inputShape[$0]) }
        } else if let sc = scales, !sc.isEmpty {
            guard sc.count == rank else { throw IRError("scales has \(sc.count) values for rank \(rank)", at: node) }
            factors = sc
            shape = (0..<rank).map { Int((Float(inputShape[$0]) * sc[$0]).rounded(.down)) }
        } else {
            throw IRError("Resize needs scales or sizes", at: node)
        }
        let roi = roi ?? []
        // Source coordinate of output index `o` on axis `d`.
        func source(_ o: Int, _ d: Int) -> Float {
            let scale = factors[d], inN = Float(inputShape[d]), outN = Float(shape[d])
            switch coordinate {
            case "asymmetric": return Float(o) / scale
            case "align_corners": return outN == 1 ? 0 : Float(o) * (inN - 1) / (outN - 1)
            case "pytorch_half_pixel": return outN > 1 ? (Float(o) + 0.5) / scale - 0.5 : 0
            case "tf_half_pixel_for_nn": return (Float(o) + 0.5) / scale
            case "tf_crop_and_resize" where roi.count == 2 * rank:
                let start = roi[d], end = roi[d + rank]
                return outN > 1
                    ? start * (inN - 1) + Float(o) * (end - start) * (inN - 1) / (outN - 1) : 0.5 * (start + end) * (inN - 1)
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
                if mode == "nearest" || inputShape[d] == 1
                    || factors[d] == 1 && coordinate != "align_corners" && coordinate != "tf_crop_and_resize"
                {
                    let i = mode == "nearest" ? rounded(s, inputShape[d]) : min(max(Int(s.rounded(.down)), 0), inputShape[d] - 1)
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
    }

    /// The number of [H, W] planes (the last two axes) when a linear resize of an input of
    /// rank 2 or more leaves every other axis as it is (each index reads itself, with no
    /// weight on an upper index), else nil.
    public func planes(inputShape: [Int]) -> Int? {
        guard !nearest, inputShape.count >= 2 else { return nil }
        for d in 0..<(inputShape.count - 2) {
            let identity = Array(0..<inputShape[d])
            // With no upper weight the upper index is never read.
            guard lower[d] == identity, weight[d].allSatisfy({ $0 == 0 }) else { return nil }
        }
        return inputShape.dropLast(2).reduce(1, *)
    }
}
