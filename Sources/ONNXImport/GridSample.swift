// GridSample (torch's grid_sample: spatial transformers, optical flow warps, deformable
// attention), imported as the look-ups and arithmetic it is. The image becomes a table of
// pixels, one row of C channels each; every output position reads the rows its taps name
// with a Gather, and the taps are weighted along the columns, then along the rows, in the
// order ONNX's reference defines (a linear or cubic interpolation per row, then across
// rows).
import IR

extension ImportContext {
    /// Emits GridSample `node` (X [N, C, H, W] and grid [N, Ho, Wo, 2] of float32; `mode`
    /// bilinear, nearest or bicubic, spelled linear and cubic from opset 20; `padding_mode`
    /// zeros, border or reflection; `align_corners`). Each grid coordinate is denormalized
    /// ((g + 1) / 2 · (size − 1) aligned, else ((g + 1) · size − 1) / 2), rounded half to
    /// even for nearest, then, outside [lo, hi] (0 and size − 1 aligned, else −0.5 and
    /// size − 0.5), clamped to [0, size − 1] (border) or reflected into [lo, hi]
    /// (reflection). A tap at integer position p reads pixel p when inside the image, else 0
    /// (zeros), the clamped pixel (border) or the reflected one (reflection). Linear weighs
    /// taps ⌊x⌋ and ⌊x⌋ + 1 by 1 − t and t, cubic taps ⌊x⌋ − 1 to ⌊x⌋ + 2 by Keys's
    /// coefficients (a = −0.75) of t, where t = x − ⌊x⌋. New nodes are named
    /// `NAME/GridSample_STEP`.
    mutating func emitGridSample(_ node: Node) throws {
        guard node.inputs.count == 2, let x = node.input(0), let grid = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else { throw IRError("takes X and grid and gives one output", at: node) }
        let modes = opset >= 20 ? ["linear", "nearest", "cubic"] : ["bilinear", "nearest", "bicubic"]
        let modeName = node.string("mode", default: modes[0])
        guard let modeIndex = modes.firstIndex(of: modeName) else {
            throw IRError(
                "mode \"\(modeName)\" is not one of \(modes.map { "\"\($0)\"" }.joined(separator: ", ")) (opset \(opset))",
                at: node)
        }
        let padding = node.string("padding_mode", default: "zeros")
        guard ["zeros", "border", "reflection"].contains(padding) else {
            throw IRError("padding_mode \"\(padding)\" is not one of \"zeros\", \"border\", \"reflection\"", at: node)
        }
        let aligned = node.int("align_corners", default: 0) != 0
        for (role, value) in [("X", x), ("grid", grid)] {
            if let rank = rank(of: value), rank != 4 {
                throw IRError(
                    "\(role) of rank \(rank): GridSample is supported over two spatial axes (X [N, C, H, W], "
                        + "grid [N, Ho, Wo, 2]) only", at: node)
            }
            if let dtype = knownType(of: value)?.dtype, dtype != .float32 {
                throw IRError("\(role) of \(dtype.name) is not supported (float32 only)", at: node)
            }
        }
        if let last = knownType(of: grid)?.shape?.dims.last?.value, last != 2 {
            throw IRError("grid's last axis has \(last) values; two (x, y) sample a 2-D image", at: node)
        }
        var sampler = GridSampler(
            context: self, node: node, image: x, padding: padding, aligned: aligned,
            interpolation: [.linear, .nearest, .cubic][modeIndex])
        let result = sampler.emit(grid: grid)
        self = sampler.context
        emitChannelsFirst(result, as: node)
    }
}

/// The nodes of one GridSample, made on a copy of the import context (given back when done).
private struct GridSampler: NodeSteps {
    enum Interpolation { case linear, nearest, cubic }

    /// One image axis: its extent as float32 and as int64, and the bounds outside which a
    /// coordinate is padded.
    struct Axis {
        var size: String
        var count: String
        var low: String
        var high: String
    }

    var context: ImportContext
    let node: Node
    let image: String
    let padding: String
    let aligned: Bool
    let interpolation: Interpolation

    var scalars: [Float: String] = [:]

    /// The output as [N, Ho, Wo, C].
    mutating func emit(grid: String) -> String {
        // The pixels as rows of C channels: [N · H · W, C].
        let channels = context.extents(of: image, 1, 2, in: node, step: "channels")
        let rowShape = emit("Concat", "row_shape", [context.int64Constant([-1], hint: "rows"), channels], ["axis": .int(0)])
        let rows = emit(
            "Reshape", "rows", [emit("Transpose", "pixels", [image], ["perm": .ints([0, 2, 3, 1])]), rowShape])
        let height = axis(2, "height"), width = axis(3, "width")
        // The grid's x (along W) and y (along H), each [N, Ho, Wo, 1].
        let coordinates = context.emitSplit(of: node, grid, into: 2, step: "coordinate")
        let column = place(coordinates[0], on: width, "x"), row = place(coordinates[1], on: height, "y")
        // Each sample's first row in the table: n · H · W, [N, 1, 1, 1].
        let plane = emit("Mul", "plane", [height.count, width.count])
        let samples = emit(
            "Gather", "samples", [emit("Shape", "grid_shape", [grid]), context.int64Scalar(0, hint: "axis")], ["axis": .int(0)])
        let sample = emit(
            "Range", "sample", [context.int64Scalar(0, hint: "zero"), samples, context.int64Scalar(1, hint: "one")])
        let batch = emit("Reshape", "sample_index", [sample, context.int64Constant([-1, 1, 1, 1], hint: "shape")])
        let first = emit("Mul", "first_row", [batch, plane])
        let lookup = Lookup(rows: rows, first: first, width: width)
        switch interpolation {
        case .nearest:
            return tap(pad(row, height, "row"), pad(column, width, "column"), lookup, "nearest")
        case .linear, .cubic:
            let offsets = interpolation == .linear ? [0, 1] : [-1, 0, 1, 2]
            let (xTaps, xWeights) = taps(of: column, offsets, "x")
            let (yTaps, yWeights) = taps(of: row, offsets, "y")
            // Each tap position padded once along its axis, then combined with the other's.
            let columns = xTaps.enumerated().map { j, x in pad(x, width, "column\(j)") }
            let rows = yTaps.enumerated().map { i, y in pad(y, height, "row\(i)") }
            var across: [String] = []
            for (i, y) in rows.enumerated() {
                let values = columns.enumerated().map { j, x in tap(y, x, lookup, "tap\(i)_\(j)") }
                across.append(weigh(values, by: xWeights, "row\(i)"))
            }
            return weigh(across, by: yWeights, "sum")
        }
    }

    /// Image axis `index` of X.
    mutating func axis(_ index: Int, _ name: String) -> Axis {
        let count = context.extents(of: image, index, index + 1, in: node, step: name)
        let size = emit("Cast", "\(name)_float", [count], ["to": .int(Int(DType.float32.rawValue))])
        let low = aligned ? float(0, "low") : float(-0.5, "low")
        let high = emit("Sub", "\(name)_high", [size, aligned ? float(1, "one") : float(0.5, "half")])
        return Axis(size: size, count: count, low: low, high: high)
    }

    /// A normalized coordinate as a position along `axis`, rounded for nearest, then
    /// clamped or reflected where it lies outside the axis's bounds.
    mutating func place(_ normalized: String, on axis: Axis, _ name: String) -> String {
        let shifted = emit("Add", "\(name)_shifted", [normalized, float(1, "one")])
        var position =
            aligned
            ? emit(
                "Mul", "\(name)_position",
                [
                    emit("Div", "\(name)_halved", [shifted, float(2, "two")]),
                    emit("Sub", "\(name)_last", [axis.size, float(1, "one")]),
                ])
            : emit(
                "Div", "\(name)_position",
                [
                    emit("Sub", "\(name)_less_half", [emit("Mul", "\(name)_scaled", [shifted, axis.size]), float(1, "one")]),
                    float(2, "two"),
                ])
        if interpolation == .nearest { position = emit("Round", "\(name)_nearest", [position]) }
        // Cubic pads each of its taps instead (as torch and onnxruntime do; ONNX's reference
        // also clamps the coordinate, which moves a border sample's taps).
        guard padding != "zeros", interpolation != .cubic else { return position }
        let outside = emit(
            "Or", "\(name)_outside",
            [emit("Less", "\(name)_below", [position, axis.low]), emit("Greater", "\(name)_above", [position, axis.high])])
        let moved = padding == "border" ? clamp(position, axis, "\(name)_clamped") : reflect(position, axis, name)
        return emit("Where", "\(name)_padded", [outside, moved, position])
    }

    /// `value` clamped to [0, size − 1].
    mutating func clamp(_ value: String, _ axis: Axis, _ name: String) -> String {
        let last = emit("Sub", "\(name)_last", [axis.size, float(1, "one")])
        return emit("Max", name, [emit("Min", "\(name)_below_last", [value, last]), float(0, "zero")])
    }

    /// `value` outside [low, high] reflected back in by the nearer bound, as often as it
    /// takes: d is its distance past that bound, n = ⌊d / (high − low)⌋ whole crossings and
    /// r = d − n · (high − low) the rest; an even n leaves it r inside the nearer bound, an
    /// odd one r inside the farther. An axis whose bounds meet (one pixel, aligned) gives
    /// the bound. Values inside are returned as they are.
    mutating func reflect(_ value: String, _ axis: Axis, _ name: String) -> String {
        let span = emit("Sub", "\(name)_span", [axis.high, axis.low])
        let below = emit("Less", "\(name)_under", [value, axis.low])
        let above = emit("Greater", "\(name)_over", [value, axis.high])
        let distance = emit(
            "Where", "\(name)_distance",
            [below, emit("Sub", "\(name)_from_low", [axis.low, value]), emit("Sub", "\(name)_from_high", [value, axis.high])])
        let crossings = emit("Floor", "\(name)_crossings", [emit("Div", "\(name)_spans", [distance, span])])
        let rest = emit("Sub", "\(name)_rest", [distance, emit("Mul", "\(name)_whole", [crossings, span])])
        let halved = emit("Div", "\(name)_half_crossings", [crossings, float(2, "two")])
        let even = emit("Equal", "\(name)_even", [emit("Floor", "\(name)_pairs", [halved]), halved])
        let fromLow = emit("Add", "\(name)_from_low_bound", [axis.low, rest])
        let fromHigh = emit("Sub", "\(name)_from_high_bound", [axis.high, rest])
        let reflected = emit(
            "Where", "\(name)_reflected",
            [
                below, emit("Where", "\(name)_reflected_low", [even, fromLow, fromHigh]),
                emit("Where", "\(name)_reflected_high", [even, fromHigh, fromLow]),
            ])
        let inside = emit("Where", "\(name)_reflected_outside", [emit("Or", "\(name)_out", [below, above]), reflected, value])
        let single = emit("Equal", "\(name)_single", [span, float(0, "zero")])
        return emit("Where", "\(name)_reflection", [single, axis.low, inside])
    }

    /// The tap positions at `offsets` from ⌊position⌋, and their weights.
    mutating func taps(of position: String, _ offsets: [Int], _ name: String) -> ([String], [String]) {
        let floor = emit("Floor", "\(name)_floor", [position])
        let t = emit("Abs", "\(name)_t", [emit("Sub", "\(name)_fraction", [position, floor])])
        let positions = offsets.map {
            $0 == 0 ? floor : emit("Add", "\(name)_tap\($0 + 1)", [floor, float(Float($0), "offset")])
        }
        if interpolation == .linear {
            return (positions, [emit("Sub", "\(name)_w0", [float(1, "one"), t]), t])
        }
        return (positions, cubicWeights(t, name))
    }

    /// Keys's cubic convolution weights of the four taps around t in [0, 1), a = −0.75,
    /// each evaluated as ONNX's reference writes it.
    mutating func cubicWeights(_ t: String, _ name: String) -> [String] {
        let a: Float = -0.75
        // ((a·s − 5a)·s + 8a)·s − 4a, for the outer taps (s = t + 1 and 2 − t).
        func outer(_ s: String, _ step: String) -> String {
            let inner = emit("Sub", "\(step)_a", [emit("Mul", "\(step)_as", [float(a, "a"), s]), float(5 * a, "five_a")])
            let middle = emit("Add", "\(step)_b", [emit("Mul", "\(step)_bs", [inner, s]), float(8 * a, "eight_a")])
            return emit("Sub", step, [emit("Mul", "\(step)_cs", [middle, s]), float(4 * a, "four_a")])
        }
        // ((a + 2)·s − (a + 3))·s·s + 1, for the inner taps (s = t and 1 − t).
        func near(_ s: String, _ step: String) -> String {
            let inner = emit(
                "Sub", "\(step)_a", [emit("Mul", "\(step)_as", [float(a + 2, "a_plus_2"), s]), float(a + 3, "a_plus_3")])
            let squared = emit("Mul", "\(step)_ss", [emit("Mul", "\(step)_s", [inner, s]), s])
            return emit("Add", step, [squared, float(1, "one")])
        }
        let plusOne = emit("Add", "\(name)_t_plus_1", [t, float(1, "one")])
        let oneMinus = emit("Sub", "\(name)_1_minus_t", [float(1, "one"), t])
        let twoMinus = emit("Sub", "\(name)_2_minus_t", [float(2, "two"), t])
        return [
            outer(plusOne, "\(name)_w0"), near(t, "\(name)_w1"), near(oneMinus, "\(name)_w2"), outer(twoMinus, "\(name)_w3"),
        ]
    }

    /// Σ weights[i] · values[i], summed in order.
    mutating func weigh(_ values: [String], by weights: [String], _ name: String) -> String {
        var sum = emit("Mul", "\(name)_0", [weights[0], values[0]])
        for i in 1..<values.count {
            sum = emit("Add", "\(name)_sum\(i)", [sum, emit("Mul", "\(name)_\(i)", [weights[i], values[i]])])
        }
        return sum
    }

    /// The table and geometry every tap reads.
    struct Lookup {
        var rows: String
        var first: String
        var width: Axis
    }

    /// An integer tap position along `axis`, [N, Ho, Wo, 1], as the int64 index a look-up
    /// reads and, for zeros padding, whether it lies inside the image (its value 0 where not);
    /// border clamps it, reflection reflects it.
    struct PaddedTap {
        var index: String
        var inside: String?
    }

    mutating func pad(_ position: String, _ axis: Axis, _ name: String) -> PaddedTap {
        let int64 = ["to": Attribute.int(Int(DType.int64.rawValue))]
        switch padding {
        case "zeros":
            let inside = emit(
                "And", "\(name)_in",
                [
                    emit("GreaterOrEqual", "\(name)_in_from", [position, float(0, "zero")]),
                    emit("Less", "\(name)_in_to", [position, axis.size]),
                ])
            return PaddedTap(index: emit("Cast", "\(name)_index", [position], int64), inside: inside)
        case "border":
            return PaddedTap(index: emit("Cast", "\(name)_index", [clamp(position, axis, name)], int64))
        default:
            // Reflected, then clamped: only a coordinate beyond float32's integers (or NaN)
            // could leave the image, and a look-up must stay inside it.
            let kept = clamp(reflect(position, axis, name), axis, "\(name)_kept")
            return PaddedTap(index: emit("Cast", "\(name)_index", [kept], int64))
        }
    }

    /// The pixels at the padded taps `row` and `column` as [N, Ho, Wo, C]: 0 where zeros
    /// padding finds either outside the image.
    mutating func tap(_ row: PaddedTap, _ column: PaddedTap, _ lookup: Lookup, _ name: String) -> String {
        var index = emit(
            "Add", "\(name)_index",
            [
                emit(
                    "Add", "\(name)_in_plane", [emit("Mul", "\(name)_row_start", [row.index, lookup.width.count]), column.index]),
                lookup.first,
            ])
        var inside: String?
        if let rowInside = row.inside, let columnInside = column.inside {
            inside = emit("And", "\(name)_inside", [rowInside, columnInside])
        }
        if let inside { index = emit("Where", "\(name)_index_kept", [inside, index, context.int64Scalar(0, hint: "zero")]) }
        let flat = emit("Squeeze", "\(name)_flat", [index, context.int64Constant([-1], hint: "last")])
        let pixels = emit("Gather", "\(name)_pixels", [lookup.rows, flat], ["axis": .int(0)])
        guard let inside else { return pixels }
        return emit("Where", "\(name)_values", [inside, pixels, float(0, "zero")])
    }
}
