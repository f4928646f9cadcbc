// RoiAlign with a fixed `sampling_ratio` (torchvision's MultiScaleRoIAlign in Faster and
// Mask R-CNN: 2), imported as the arithmetic and look-ups it is, so that a detector's second
// stage, given its regions, compiles. Every region's bins take ratio x ratio bilinear
// samples at places known only when the model runs; each sample's four neighbours are
// Gathers of pixel rows, weighted and summed as onnxruntime sums them, and the samples are
// added (or their largest kept) one after another. With sampling_ratio 0 a bin takes as
// many samples as its region is large, which only the running model knows: that RoiAlign is
// kept whole, for the interpreter.
import IR

extension ImportContext {
    /// Emits RoiAlign `node` (X [N, C, H, W], rois [R, 4] as x1, y1, x2, y2, batch_indices
    /// [R]; `mode` avg or max, `output_height`, `output_width`, `sampling_ratio`,
    /// `spatial_scale`, `coordinate_transformation_mode`): as its steps `NAME/RoiAlign_STEP`
    /// when `sampling_ratio` is positive, else as it is.
    mutating func emitRoiAlign(_ node: Node) throws {
        let ratio = node.int("sampling_ratio", default: 0)
        guard ratio > 0 else {
            var plain = node
            try upgrade(&plain, originalOp: node.op)
            return
        }
        guard node.inputs.count == 3, let x = node.input(0), let rois = node.input(1), let batch = node.input(2),
            node.outputs.count == 1, !node.outputs[0].isEmpty
        else { throw IRError("takes X, rois and batch_indices and gives one output", at: node) }
        let transform: String
        if opset < 16 {
            // Before opset 16 the coordinates had no half-pixel offset (and the attribute did not exist).
            guard node.attributes["coordinate_transformation_mode"] == nil else {
                throw IRError("coordinate_transformation_mode is an attribute of RoiAlign from opset 16 on", at: node)
            }
            transform = "output_half_pixel"
        } else {
            transform = node.string("coordinate_transformation_mode", default: "half_pixel")
        }
        let mode = node.string("mode", default: "avg")
        guard mode == "avg" || mode == "max" else { throw IRError("mode \"\(mode)\" is not avg or max", at: node) }
        guard transform == "half_pixel" || transform == "output_half_pixel" else {
            throw IRError("coordinate_transformation_mode \"\(transform)\" is not half_pixel or output_half_pixel", at: node)
        }
        let size = (node.int("output_height", default: 1), node.int("output_width", default: 1))
        guard size.0 >= 1, size.1 >= 1 else {
            throw IRError("output_height \(size.0) and output_width \(size.1) must be positive", at: node)
        }
        guard ratio <= RegionSampler.largestRatio else {
            throw IRError(
                "sampling_ratio \(ratio) is more than \(RegionSampler.largestRatio) samples a side of a bin "
                    + "(each sample is a step of the imported graph)", at: node)
        }
        if let rank = rank(of: x), rank != 4 { throw IRError("X has rank \(rank), not 4 ([N, C, H, W])", at: node) }
        var sampler = RegionSampler(
            context: self, node: node, image: x, size: size, ratio: ratio, scale: node.float("spatial_scale", default: 1),
            halfPixel: transform == "half_pixel", maximum: mode == "max")
        let pooled = sampler.emit(rois: rois, batch: batch)
        self = sampler.context
        emitChannelsFirst(pooled, as: node)
    }
}

/// The nodes of one RoiAlign, made on a copy of the import context (given back when done).
private struct RegionSampler: NodeSteps {
    /// The most samples a side of a bin the import spells out, sample by sample.
    static let largestRatio = 16

    var context: ImportContext
    let node: Node
    let image: String
    let size: (height: Int, width: Int)
    let ratio: Int
    let scale: Float
    let halfPixel: Bool
    let maximum: Bool

    var scalars: [Float: String] = [:]

    mutating func int64(_ value: Int, _ hint: String) -> String { context.int64Scalar(value, hint: hint) }

    /// One image axis's neighbours of every sample along it: whether the sample lies within a
    /// pixel of the image, the lower and upper pixel, and their weights (hy, ly), as the
    /// kernel onnxruntime runs finds them.
    struct Neighbours {
        var near: String
        var low: String
        var high: String
        var lowWeight: String
        var highWeight: String
    }

    /// The pooled regions as [R, OH, OW, C].
    mutating func emit(rois: String, batch: String) -> String {
        // The pixels as rows of C channels: [N · H · W, C].
        let channels = context.extents(of: image, 1, 2, in: node, step: "channels")
        let rowShape = emit("Concat", "row_shape", [context.int64Constant([-1], hint: "rows"), channels], ["axis": .int(0)])
        let rows = emit("Reshape", "rows", [emit("Transpose", "pixels", [image], ["perm": .ints([0, 2, 3, 1])]), rowShape])
        let (images, height, width) = (
            context.extent(of: image, 0, in: node, step: "images"), context.extent(of: image, 2, in: node, step: "height"),
            context.extent(of: image, 3, in: node, step: "width")
        )
        // Each region's corners, scaled and shifted: [R, 1] each.
        let corners = context.emitSplit(of: node, rois, into: 4, step: "corner")
        let offset = float(halfPixel ? 0.5 : 0, "offset")
        let scaleValue = float(scale, "scale")
        let placed = ["x1", "y1", "x2", "y2"].enumerated().map { i, name in
            emit("Sub", "\(name)_placed", [emit("Mul", "\(name)_scaled", [corners[i], scaleValue]), offset])
        }
        var (extentX, extentY) = (
            emit("Sub", "roi_width", [placed[2], placed[0]]), emit("Sub", "roi_height", [placed[3], placed[1]])
        )
        if !halfPixel {
            (extentX, extentY) = (
                emit("Max", "roi_width_at_least_1", [extentX, float(1, "one")]),
                emit("Max", "roi_height_at_least_1", [extentY, float(1, "one")])
            )
        }
        let rowsAxis = axis(
            start: placed[1], extent: extentY, bins: size.height, pixels: height, shape: [-1, size.height, ratio, 1, 1], "y")
        let columnsAxis = axis(
            start: placed[0], extent: extentX, bins: size.width, pixels: width, shape: [-1, 1, 1, size.width, ratio], "x")
        // Every sample of every bin, [R, OH, ratio, OW, ratio]: within a pixel of the image, or
        // all its weights 0 and its look-ups the image's first pixel.
        let near = emit("And", "near", [rowsAxis.near, columnsAxis.near])
        let region = emit("Reshape", "region", [batch, context.int64Constant([-1, 1, 1, 1, 1], hint: "shape")])
        let plane = emit("Mul", "plane", [emit("Mul", "image_start", [region, height]), width])
        // A batch index outside X's images reads past the table, which the look-up refuses.
        let known = emit(
            "And", "image_known",
            [
                emit("GreaterOrEqual", "image_from", [region, int64(0, "zero")]),
                emit("Less", "image_to", [region, images]),
            ])
        let past = emit("Mul", "past", [emit("Mul", "all_rows", [images, height]), width])
        let last = context.int64Constant([-1], hint: "last")
        var terms: [String] = []
        for (i, (r, c)) in [
            (rowsAxis.low, columnsAxis.low), (rowsAxis.low, columnsAxis.high), (rowsAxis.high, columnsAxis.low),
            (rowsAxis.high, columnsAxis.high),
        ].enumerated() {
            let name = "neighbour\(i + 1)"
            let weight = emit(
                "Mul", "\(name)_weight",
                [
                    [rowsAxis.lowWeight, rowsAxis.lowWeight, rowsAxis.highWeight, rowsAxis.highWeight][i],
                    [columnsAxis.lowWeight, columnsAxis.highWeight, columnsAxis.lowWeight, columnsAxis.highWeight][i],
                ])
            let kept = emit("Where", "\(name)_kept_weight", [near, weight, float(0, "zero")])
            let inPlane = emit("Add", "\(name)_in_plane", [emit("Mul", "\(name)_row_start", [r, width]), c])
            let index = emit(
                "Where", "\(name)_index",
                [
                    known,
                    emit("Add", "\(name)_row", [plane, emit("Where", "\(name)_near_index", [near, inPlane, int64(0, "zero")])]),
                    past,
                ])
            let pixels = emit("Gather", "\(name)_pixels", [rows, index], ["axis": .int(0)])
            terms.append(emit("Mul", "\(name)_term", [emit("Unsqueeze", "\(name)_weight_row", [kept, last]), pixels]))
        }
        // Each sample's value, [R, OH, ratio, OW, ratio, C]: the weighted neighbours added in
        // order (for max, the largest of them).
        let combine = maximum ? "Max" : "Add"
        var sample = terms[0]
        for i in 1..<4 { sample = emit(combine, "sample\(i)", [sample, terms[i]]) }
        // The bin's samples in turn, row by row: [R, OH, OW, C].
        var pooled = maximum ? nil : Optional(float(0, "zero"))
        for iy in 0..<ratio {
            let row = emit("Gather", "sample_row\(iy)", [sample, int64(iy, "index")], ["axis": .int(2)])
            for ix in 0..<ratio {
                let one = emit("Gather", "sample\(iy)_\(ix)", [row, int64(ix, "index")], ["axis": .int(3)])
                pooled = pooled.map { emit(combine, "pooled\(iy)_\(ix)", [$0, one]) } ?? one
            }
        }
        guard !maximum else { return pooled! }
        return emit("Div", "mean", [pooled!, float(Float(ratio * ratio), "count")])
    }

    /// One axis of the regions: the samples' places (start + bin · extent / bins + (i + 0.5)
    /// · (extent / bins) / ratio, in that order), laid out as `shape` ([R, OH, ratio, 1, 1] for
    /// rows, [R, 1, 1, OW, ratio] for columns), and their neighbours along the axis.
    mutating func axis(
        start: String, extent: String, bins: Int, pixels: String, shape: [Int], _ name: String
    ) -> Neighbours {
        let toInt64 = ["to": Attribute.int(Int(DType.int64.rawValue))]
        let toFloat = ["to": Attribute.int(Int(DType.float32.rawValue))]
        let column = context.int64Constant([-1, 1, 1], hint: "shape")
        let bin = emit(
            "Reshape", "\(name)_bin_column", [emit("Div", "\(name)_bin", [extent, float(Float(bins), "bins")]), column])
        let origin = emit("Reshape", "\(name)_start_column", [start, column])
        // [R, bins, ratio]: the bins' starts and the samples' steps inside them.
        let binIndex = context.addConstant(Tensor((0..<bins).map(Float.init), shape: [1, bins, 1]), hint: "\(name)_bins")
        let sampleIndex = context.addConstant(
            Tensor((0..<ratio).map { Float($0) + 0.5 }, shape: [1, 1, ratio]), hint: "\(name)_samples")
        let binStart = emit("Add", "\(name)_bin_start", [origin, emit("Mul", "\(name)_bin_offset", [binIndex, bin])])
        let step = emit(
            "Div", "\(name)_step", [emit("Mul", "\(name)_step_scaled", [sampleIndex, bin]), float(Float(ratio), "ratio")])
        let place = emit(
            "Reshape", "\(name)_place",
            [emit("Add", "\(name)_sample", [binStart, step]), context.int64Constant(shape, hint: "shape")])
        let size = emit("Cast", "\(name)_pixels_float", [pixels], toFloat)
        let near = emit(
            "And", "\(name)_near",
            [
                emit("GreaterOrEqual", "\(name)_from", [place, float(-1, "minus_one")]),
                emit("LessOrEqual", "\(name)_to", [place, size]),
            ])
        // From 0 on; a place at or past the last pixel takes the last pixel for both neighbours.
        let clamped = emit("Max", "\(name)_from_zero", [place, float(0, "zero")])
        let floor = emit("Cast", "\(name)_floor", [clamped], toInt64)
        let lastPixel = emit("Sub", "\(name)_last", [pixels, int64(1, "one")])
        let atEdge = emit("GreaterOrEqual", "\(name)_at_edge", [floor, lastPixel])
        let low = emit("Where", "\(name)_low", [atEdge, lastPixel, floor])
        let high = emit("Where", "\(name)_high", [atEdge, lastPixel, emit("Add", "\(name)_next", [floor, int64(1, "one")])])
        let kept = emit("Where", "\(name)_kept", [atEdge, emit("Cast", "\(name)_last_float", [lastPixel], toFloat), clamped])
        let highWeight = emit("Sub", "\(name)_high_weight", [kept, emit("Cast", "\(name)_low_float", [low], toFloat)])
        let lowWeight = emit("Sub", "\(name)_low_weight", [float(1, "one"), highWeight])
        return Neighbours(near: near, low: low, high: high, lowWeight: lowWeight, highWeight: highWeight)
    }
}
