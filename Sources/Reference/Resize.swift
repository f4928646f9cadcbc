// Resize: nearest (four rounding modes) and N-linear, with the coordinate transformation
// modes of ONNX, from scales or sizes.
import Foundation
import IR

func resize(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0)
    try requireFloat32(node, x)
    let mode = node.string("mode", default: "nearest")
    let coordinate = node.string("coordinate_transformation_mode", default: "half_pixel")
    let nearestMode = node.string("nearest_mode", default: "round_prefer_floor")
    guard mode == "nearest" || mode == "linear" else { throw IRError("mode \"\(mode)\" is not supported", at: node) }
    var scales = [Float](repeating: 1, count: x.rank)
    var shape = x.shape
    if let sizes = optionalOperand(inputs, 3), sizes.count > 0 {
        let s = sizes.int64s().map(Int.init)
        guard s.count == x.rank else { throw IRError("sizes has \(s.count) values for rank \(x.rank)", at: node) }
        shape = s
        scales = (0..<x.rank).map { Float(s[$0]) / Float(x.shape[$0]) }
    } else if let sc = optionalOperand(inputs, 2), sc.count > 0 {
        scales = sc.floats()
        guard scales.count == x.rank else { throw IRError("scales has \(scales.count) values for rank \(x.rank)", at: node) }
        shape = (0..<x.rank).map { Int((Float(x.shape[$0]) * scales[$0]).rounded(.down)) }
    } else {
        throw IRError("Resize needs scales or sizes", at: node)
    }
    let roi = optionalOperand(inputs, 1)?.floats() ?? []
    // Source coordinate of output index `o` on axis `d`.
    func source(_ o: Int, _ d: Int) -> Float {
        let scale = scales[d], inN = Float(x.shape[d]), outN = Float(shape[d])
        switch coordinate {
        case "asymmetric": return Float(o) / scale
        case "align_corners": return outN == 1 ? 0 : Float(o) * (inN - 1) / (outN - 1)
        case "pytorch_half_pixel": return outN > 1 ? (Float(o) + 0.5) / scale - 0.5 : 0
        case "tf_half_pixel_for_nn": return (Float(o) + 0.5) / scale
        case "tf_crop_and_resize" where roi.count == 2 * x.rank:
            let start = roi[d], end = roi[d + x.rank]
            return outN > 1 ? start * (inN - 1) + Float(o) * (end - start) * (inN - 1) / (outN - 1) : 0.5 * (start + end) * (inN - 1)
        default: return (Float(o) + 0.5) / scale - 0.5
        }
    }
    func nearest(_ v: Float, _ n: Int) -> Int {
        let r: Float
        switch nearestMode {
        case "floor": r = v.rounded(.down)
        case "ceil": r = v.rounded(.up)
        case "round_prefer_ceil": r = (v - v.rounded(.down) == 0.5) ? v.rounded(.up) : v.rounded()
        default: r = (v - v.rounded(.down) == 0.5) ? v.rounded(.down) : v.rounded()
        }
        return min(max(Int(r), 0), n - 1)
    }
    let rank = x.rank
    let inStrides = contiguousStrides(x.shape), outStrides = contiguousStrides(shape)
    // Per axis and output index: the two source indices and the weight of the second.
    var lo = [[Int]](), hi = [[Int]](), weight = [[Float]]()
    for d in 0..<rank {
        var l = [Int](), h = [Int](), w = [Float]()
        for o in 0..<shape[d] {
            let s = source(o, d)
            if mode == "nearest" || x.shape[d] == 1 || scales[d] == 1 && coordinate != "align_corners" && coordinate != "tf_crop_and_resize" {
                let i = mode == "nearest" ? nearest(s, x.shape[d]) : min(max(Int(s.rounded(.down)), 0), x.shape[d] - 1)
                l.append(i); h.append(i); w.append(0)
            } else {
                let c = min(max(s, 0), Float(x.shape[d] - 1))
                let i0 = Int(c.rounded(.down)), i1 = min(i0 + 1, x.shape[d] - 1)
                l.append(i0); h.append(i1); w.append(c - Float(i0))
            }
        }
        lo.append(l); hi.append(h); weight.append(w)
    }
    let xp = x.f32
    let corners = 1 << rank
    return makeFloat(shape) { op in
        let total = shape.reduce(1, *)
        parallelChunks(total, cost: corners) { range in
            var index = [Int](repeating: 0, count: rank)
            for i in range {
                for d in 0..<rank { index[d] = (i / outStrides[d]) % shape[d] }
                var acc: Float = 0
                for corner in 0..<corners {
                    var w: Float = 1, offset = 0
                    for d in 0..<rank {
                        let upper = (corner >> d) & 1 == 1
                        let f = weight[d][index[d]]
                        if upper && f == 0 { w = 0; break }
                        w *= upper ? f : 1 - f
                        offset += (upper ? hi[d][index[d]] : lo[d][index[d]]) * inStrides[d]
                    }
                    if w != 0 { acc += w * xp[offset] }
                }
                op[i] = acc
            }
        }
    }
}
