// RoiAlign: each region of interest of an image cut into output_height x output_width bins,
// each bin the mean (or the maximum) of bilinear samples on a regular grid inside it. A
// two-stage detector's (Faster and Mask R-CNN's) pooling of the boxes its first stage keeps.
// Computed in float32 as onnxruntime computes it, sample by sample: the weights of a
// sample's four neighbours, each weighted neighbour added in turn (for "max", the largest
// weighted neighbour of any sample), and the mean divided by the number of samples.
import IR

func roiAlign(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let x = try operand(node, inputs, 0).cast(to: .float32), rois = try operand(node, inputs, 1).cast(to: .float32)
    let indices = try operand(node, inputs, 2).int64s()
    guard x.rank == 4 else { throw IRError("X has rank \(x.rank), not 4 ([N, C, H, W])", at: node) }
    guard rois.rank == 2, rois.shape[1] == 4, indices.count == rois.shape[0] else {
        throw IRError("rois \(rois.shape) and batch_indices [\(indices.count)] are not [rois, 4] and [rois]", at: node)
    }
    let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
    let (outHeight, outWidth) = (node.int("output_height", default: 1), node.int("output_width", default: 1))
    let ratio = node.int("sampling_ratio", default: 0), scale = node.float("spatial_scale", default: 1)
    guard outHeight >= 1, outWidth >= 1 else {
        throw IRError("output_height \(outHeight) and output_width \(outWidth) must be positive", at: node)
    }
    let halfPixel = (node.string("coordinate_transformation_mode") ?? "half_pixel") == "half_pixel"
    let maximum = node.string("mode") == "max"
    guard ratio <= maximumGrid else {
        throw IRError("sampling_ratio \(ratio) is more than \(maximumGrid) samples a side of a bin", at: node)
    }
    let values = x.floats(), boxes = rois.floats()
    var out = [Float](repeating: 0, count: indices.count * channels * outHeight * outWidth)
    for (n, image) in indices.enumerated() {
        guard image >= 0 && Int(image) < x.shape[0] else {
            throw IRError("batch_indices[\(n)] is \(image), outside the \(x.shape[0]) images of X", at: node)
        }
        let offset: Float = halfPixel ? 0.5 : 0
        let (startX, startY) = (boxes[4 * n] * scale - offset, boxes[4 * n + 1] * scale - offset)
        let (endX, endY) = (boxes[4 * n + 2] * scale - offset, boxes[4 * n + 3] * scale - offset)
        var (roiWidth, roiHeight) = (endX - startX, endY - startY)
        if !halfPixel { (roiWidth, roiHeight) = (max(roiWidth, 1), max(roiHeight, 1)) }
        let (binHeight, binWidth) = (roiHeight / Float(outHeight), roiWidth / Float(outWidth))
        // A region's samples a side: `sampling_ratio`, or its bins' extent rounded up.
        func grid(_ extent: Float, _ bins: Int) throws -> Int {
            if ratio > 0 { return ratio }
            let side = (extent / Float(bins)).rounded(.up)
            guard side.isFinite, side <= Float(maximumGrid) else {
                throw tooMany("\(side) samples a side of a bin", maximumGrid)
            }
            return Int(side)
        }
        func tooMany(_ what: String, _ limit: Int) -> IRError {
            IRError("rois[\(n)] \(Array(boxes[(4 * n)..<(4 * n + 4)])) makes \(what); at most \(limit) are taken", at: node)
        }
        let (gridHeight, gridWidth) = (try grid(roiHeight, outHeight), try grid(roiWidth, outWidth))
        let total = Double(outHeight * outWidth) * Double(max(gridHeight, 0)) * Double(max(gridWidth, 0))
        guard total <= Double(maximumSamples) else { throw tooMany("\(Int(total)) samples", maximumSamples) }
        let count = Float(max(gridHeight * gridWidth, 1))
        // Each bin's samples: the four neighbours' offsets in a plane and their weights.
        var samples: [[(at: (Int, Int, Int, Int), w: (Float, Float, Float, Float))]] = []
        for py in 0..<outHeight {
            for px in 0..<outWidth {
                var bin: [(at: (Int, Int, Int, Int), w: (Float, Float, Float, Float))] = []
                for iy in 0..<max(gridHeight, 0) {
                    let y0 = startY + Float(py) * binHeight + (Float(iy) + 0.5) * binHeight / Float(gridHeight)
                    for ix in 0..<max(gridWidth, 0) {
                        let x0 = startX + Float(px) * binWidth + (Float(ix) + 0.5) * binWidth / Float(gridWidth)
                        bin.append(neighbours(y0, x0, height: height, width: width))
                    }
                }
                samples.append(bin)
            }
        }
        for c in 0..<channels {
            let plane = (Int(image) * channels + c) * height * width
            for (b, bin) in samples.enumerated() {
                var value: Float = 0
                var first = true
                for s in bin {
                    let v = (
                        s.w.0 * values[plane + s.at.0], s.w.1 * values[plane + s.at.1], s.w.2 * values[plane + s.at.2],
                        s.w.3 * values[plane + s.at.3]
                    )
                    if maximum {
                        let largest = max(max(max(v.0, v.1), v.2), v.3)
                        value = first ? largest : max(value, largest)
                        first = false
                    } else {
                        value += v.0 + v.1 + v.2 + v.3
                    }
                }
                out[(n * channels + c) * outHeight * outWidth + b] = maximum ? value : value / count
            }
        }
    }
    return Tensor(out, shape: [indices.count, channels, outHeight, outWidth])
}

/// The most samples a side of a bin, and in a region: far beyond any region of an image (a
/// 2,048-pixel square region in one bin samples 4,194,304 points), and few enough to hold.
private let maximumGrid = 1 << 16
private let maximumSamples = 1 << 22

/// A bilinear sample at (y, x) of an H x W plane: its four neighbours (row-major offsets)
/// and their weights; all weights 0 more than a pixel outside the plane, and the last
/// row or column repeated at the far edge.
private func neighbours(_ y: Float, _ x: Float, height: Int, width: Int) -> (
    at: (Int, Int, Int, Int), w: (Float, Float, Float, Float)
) {
    guard y >= -1, y <= Float(height), x >= -1, x <= Float(width) else { return ((0, 0, 0, 0), (0, 0, 0, 0)) }
    var (y, x) = (max(y, 0), max(x, 0))
    var (yLow, xLow) = (Int(y), Int(x))
    let yHigh: Int, xHigh: Int
    if yLow >= height - 1 {
        (yLow, yHigh, y) = (height - 1, height - 1, Float(height - 1))
    } else {
        yHigh = yLow + 1
    }
    if xLow >= width - 1 {
        (xLow, xHigh, x) = (width - 1, width - 1, Float(width - 1))
    } else {
        xHigh = xLow + 1
    }
    let (ly, lx) = (y - Float(yLow), x - Float(xLow))
    let (hy, hx) = (1 - ly, 1 - lx)
    return (
        (yLow * width + xLow, yLow * width + xHigh, yHigh * width + xLow, yHigh * width + xHigh),
        (hy * hx, hy * lx, ly * hx, ly * lx)
    )
}
