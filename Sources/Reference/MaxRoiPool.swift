// MaxRoiPool: Fast R-CNN's pooling of its regions (torchvision's roi_pool). Each region's
// corners, times `spatial_scale`, are rounded to pixels (half away from zero); the region,
// at least a pixel a side, is cut into pooled_height x pooled_width bins, bin i along an
// axis reaching from ⌊i · size / bins⌋ to ⌈(i + 1) · size / bins⌉ (float32 products) past
// the region's start, clipped to the image; each bin gives the largest of its pixels, 0
// when it holds none, as onnxruntime computes it. The bins' extents depend on the regions,
// which only the running model knows: `compile` refuses it by node.
import IR

func maxRoiPool(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0), rois = try operand(node, inputs, 1)
    try requireFloat32(node, x)
    try requireFloat32(node, rois)
    guard x.rank == 4 else { throw IRError("X has rank \(x.rank), not 4 ([N, C, H, W])", at: node) }
    guard rois.rank == 2, rois.shape[1] == 5 else {
        throw IRError("rois \(rois.shape) are not [rois, 5] (batch index, x1, y1, x2, y2)", at: node)
    }
    guard let pooled = node.ints("pooled_shape"), pooled.count == 2, pooled.allSatisfy({ $0 >= 1 }) else {
        throw IRError("pooled_shape \(node.ints("pooled_shape") ?? []) is not two positive extents", at: node)
    }
    let scale = node.float("spatial_scale", default: 1)
    let (images, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let values = x.floats(), boxes = rois.floats(), count = rois.shape[0]
    var out = [Float](repeating: 0, count: count * channels * pooled[0] * pooled[1])
    for n in 0..<count {
        let box = boxes[(5 * n)..<(5 * n + 5)].map { $0 }
        guard box[0].isFinite, let image = Int(exactly: box[0].rounded(.towardZero)), (0..<images).contains(image) else {
            throw IRError("rois[\(n)]'s batch index \(box[0]) is not one of the \(images) images of X", at: node)
        }
        // The corners in pixels; a corner past Int's range or NaN is refused.
        var corner: [Int] = []
        for v in box[1...] {
            let scaled = (v * scale).rounded(.toNearestOrAwayFromZero)
            guard let pixel = Int(exactly: scaled), abs(pixel) <= 1 << 30 else {
                throw IRError("rois[\(n)] \(box) has a corner \(v) that times \(scale) is no pixel", at: node)
            }
            corner.append(pixel)
        }
        let (startW, startH, endW, endH) = (corner[0], corner[1], corner[2], corner[3])
        let binH = Float(max(endH - startH + 1, 1)) / Float(pooled[0])
        let binW = Float(max(endW - startW + 1, 1)) / Float(pooled[1])
        /// Bin `i`'s pixels along an axis of `extent` from `start`, clipped to the image.
        func reach(_ i: Int, _ bin: Float, _ start: Int, _ extent: Int) -> Range<Int> {
            let from = min(max(Int((Float(i) * bin).rounded(.down)) + start, 0), extent)
            let to = min(max(Int((Float(i + 1) * bin).rounded(.up)) + start, 0), extent)
            return from..<max(from, to)
        }
        for c in 0..<channels {
            let plane = (image * channels + c) * height * width
            for ph in 0..<pooled[0] {
                let rows = reach(ph, binH, startH, height)
                for pw in 0..<pooled[1] {
                    let columns = reach(pw, binW, startW, width)
                    guard !rows.isEmpty, !columns.isEmpty else { continue }
                    // The first pixel, then each larger one (a NaN kept once met, as MaxPool keeps it).
                    var best = values[plane + rows.lowerBound * width + columns.lowerBound]
                    for h in rows {
                        for w in columns {
                            let v = values[plane + h * width + w]
                            if v > best || v.isNaN { best = v }
                        }
                    }
                    out[((n * channels + c) * pooled[0] + ph) * pooled[1] + pw] = best
                }
            }
        }
    }
    return Tensor(out, shape: [count, channels, pooled[0], pooled[1]])
}
