// DeformConv (torchvision's deform_conv2d: DCN detectors and segmenters), imported as the
// look-ups, arithmetic and convolution it is. Every tap of the kernel samples X at its place
// moved by `offset`, bilinearly from the four pixels around it (Gathers of pixel rows, as
// GridSample reads them), in onnxruntime's arithmetic: the place's fraction l and 1 - l
// along each axis, each corner's weight their product, the corners summed in order, a
// corner outside the image counting as 0 and a place at or past a pixel beyond the edge as
// 0 whole. The samples, times `mask`, make an image of C·kh·kw channels (each input
// channel's taps in turn) that a 1x1 convolution of the weights, reshaped so, reduces: a
// layer like any other, which the passes quantize and prune.
import IR

extension ImportContext {
    /// Emits DeformConv `node` (X [N, C, H, W], W [M, C/group, kh, kw], offset [N,
    /// offset_group·kh·kw·2, OH, OW], optional B [M] and mask [N, offset_group·kh·kw, OH,
    /// OW]; `group`, `offset_group`, `strides`, `dilations`, `pads`). W's shape must be known
    /// when the model is read. New nodes are named `NAME/DeformConv_STEP`; the convolution
    /// takes the node's own name.
    mutating func emitDeformableConvolution(_ node: Node) throws {
        guard (3...5).contains(node.inputs.count), let x = node.input(0), let w = node.input(1),
            let offset = node.input(2), node.outputs.count == 1, !node.outputs[0].isEmpty
        else { throw IRError("takes X, W, offset and optional B and mask, and gives one output", at: node) }
        guard let weight = knownType(of: w)?.shape?.concrete, weight.count == 4 else {
            throw IRError(
                "W \"\(w)\" of unknown shape or rank other than 4: DeformConv is supported over two spatial axes, "
                    + "its weight's shape known when the model is read", at: node)
        }
        if let rank = rank(of: x), rank != 4 {
            throw IRError("X of rank \(rank): DeformConv is supported over two spatial axes only", at: node)
        }
        let (m, perGroup, kh, kw) = (weight[0], weight[1], weight[2], weight[3])
        if let declared = node.ints("kernel_shape"), declared != [kh, kw] {
            throw IRError(
                "kernel_shape \(Shape(declared.map(Dim.known))) disagrees with the weight's spatial dims "
                    + "\(Shape([kh, kw].map(Dim.known)))", at: node)
        }
        let (group, offsetGroup) = (node.int("group", default: 1), node.int("offset_group", default: 1))
        let strides = node.ints("strides") ?? [1, 1], dilations = node.ints("dilations") ?? [1, 1]
        let pads = node.ints("pads") ?? [0, 0, 0, 0]
        let channels = perGroup * group
        guard group >= 1, offsetGroup >= 1, m % group == 0, channels % offsetGroup == 0, strides.count == 2,
            dilations.count == 2, pads.count == 4, (strides + dilations).allSatisfy({ $0 >= 1 }), pads.allSatisfy({ $0 >= 0 })
        else {
            throw IRError(
                "W \(Shape(weight.map(Dim.known))), group \(group), offset_group \(offsetGroup), strides \(strides), "
                    + "dilations \(dilations) and pads \(pads) do not make a deformable convolution", at: node)
        }
        let image = knownType(of: x)?.shape?.dims
        if let c = image?[1].value, c != channels {
            throw IRError(
                "X has \(c) channels, W \(Shape(weight.map(Dim.known))), group \(group): they do not agree", at: node)
        }
        // The offsets' and the mask's shapes: per offset group, each tap's (y, x) move and weight.
        let out: [Dim] = (0..<2).map { a in
            guard let extent = image?[2 + a].value else { return .unknown }
            let reach = extent + pads[a] + pads[a + 2] - (weight[2 + a] - 1) * dilations[a] - 1
            return reach < 0 ? .known(0) : .known(reach / strides[a] + 1)
        }
        guard out.allSatisfy({ $0.value != 0 }) else {
            throw IRError("X \(knownType(of: x)!.shape!) is smaller than the kernel's reach: no output position", at: node)
        }
        let batch = image?[0] ?? .unknown
        for (role, value, count) in [
            ("offset", offset, 2 * offsetGroup * kh * kw), ("mask", node.input(4), offsetGroup * kh * kw),
        ] {
            guard let value, let dims = knownType(of: value)?.shape?.dims else { continue }
            let expected = [batch, .known(count)] + out
            guard dims.count == 4, zip(dims, expected).allSatisfy({ $0.value == nil || $1.value == nil || $0 == $1 }) else {
                throw IRError("\(role) \(Shape(dims)) is not \(Shape(expected))", at: node)
            }
        }
        var sampler = DeformableSampler(
            context: self, node: node, image: x, taps: (kh, kw), offsetGroups: offsetGroup, channels: channels,
            strides: strides, dilations: dilations, pads: pads)
        let columns = sampler.emit(offset: offset, mask: node.input(4))
        self = sampler.context
        let kernel = emitStep(of: node, "Reshape", "kernel", [w, int64Constant([m, perGroup * kh * kw, 1, 1], hint: "shape")])
        nodes.append(
            Node(
                op: "Conv", name: node.name, inputs: [columns, kernel] + (node.input(3).map { [$0] } ?? []),
                outputs: node.outputs, attributes: ["group": .int(group), "kernel_shape": .ints([1, 1])]))
    }
}

/// The nodes of one DeformConv's samples, made on a copy of the import context (given back
/// when done).
private struct DeformableSampler: NodeSteps {
    var context: ImportContext
    let node: Node
    let image: String
    let taps: (h: Int, w: Int)
    let offsetGroups: Int
    let channels: Int
    let strides: [Int]
    let dilations: [Int]
    let pads: [Int]

    var scalars: [Float: String] = [:]

    /// The samples as an image [N, C·kh·kw, OH, OW]: channel c's taps at c·kh·kw ..< (c + 1)·kh·kw.
    mutating func emit(offset: String, mask: String?) -> String {
        let k = taps.h * taps.w, perOffsetGroup = channels / offsetGroups
        let toInt64 = ["to": Attribute.int(Int(DType.int64.rawValue))]
        let toFloat = ["to": Attribute.int(Int(DType.float32.rawValue))]
        // The pixels as rows of one offset group's channels: [N · H · W · G, C / G].
        let pixels = emit("Transpose", "pixels", [image], ["perm": .ints([0, 2, 3, 1])])
        let rows = emit("Reshape", "rows", [pixels, context.int64Constant([-1, perOffsetGroup], hint: "shape")])
        let height = context.extent(of: image, 2, in: node, step: "height")
        let width = context.extent(of: image, 3, in: node, step: "width")
        // The moves, [N, G, K, 2, OH·OW], and each axis's: [N, G, K, OH·OW].
        let moves = emit("Reshape", "moves", [offset, context.int64Constant([0, offsetGroups, k, 2, -1], hint: "shape")])
        let dy = emit("Gather", "dy", [moves, context.int64Scalar(0, hint: "y")], ["axis": .int(3)])
        let dx = emit("Gather", "dx", [moves, context.int64Scalar(1, hint: "x")], ["axis": .int(3)])
        // Each output position's unmoved place of tap (0, 0), [OH·OW], and each tap's from it, [K, 1].
        let outRows = context.extent(of: offset, 2, in: node, step: "out_height")
        let outColumns = context.extent(of: offset, 3, in: node, step: "out_width")
        let grid = emit(
            "Concat", "grid",
            [
                emit("Unsqueeze", "out_height_vector", [outRows, context.int64Constant([0], hint: "axis")]),
                emit("Unsqueeze", "out_width_vector", [outColumns, context.int64Constant([0], hint: "axis")]),
            ], ["axis": .int(0)])
        func origins(_ count: String, _ axis: Int, _ shape: [Int], _ name: String) -> String {
            let range = emit(
                "Range", "\(name)_range",
                [context.int64Scalar(0, hint: "zero"), count, context.int64Scalar(1, hint: "one")])
            let start = emit(
                "Sub", "\(name)_start",
                [
                    emit("Mul", "\(name)_strided", [range, context.int64Scalar(strides[axis], hint: "stride")]),
                    context.int64Scalar(pads[axis], hint: "pad"),
                ])
            let laid = emit("Reshape", "\(name)_laid", [start, context.int64Constant(shape, hint: "shape")])
            let spread = emit("Expand", "\(name)_spread", [laid, grid])
            return emit(
                "Cast", name,
                [emit("Reshape", "\(name)_flat", [spread, context.int64Constant([-1], hint: "shape")])], toFloat)
        }
        let rowOrigins = origins(outRows, 0, [-1, 1], "row_origin")
        let columnOrigins = origins(outColumns, 1, [1, -1], "column_origin")
        let tapRows = context.addConstant(
            Tensor((0..<k).map { Float($0 / taps.w * dilations[0]) }, shape: [k, 1]), hint: "tap_rows")
        let tapColumns = context.addConstant(
            Tensor((0..<k).map { Float($0 % taps.w * dilations[1]) }, shape: [k, 1]), hint: "tap_columns")
        let y = emit("Add", "y", [emit("Add", "y_unmoved", [tapRows, rowOrigins]), dy])
        let x = emit("Add", "x", [emit("Add", "x_unmoved", [tapColumns, columnOrigins]), dx])
        // A place at or past a pixel beyond the edge samples nothing.
        let heightFloat = emit("Cast", "height_float", [height], toFloat)
        let widthFloat = emit("Cast", "width_float", [width], toFloat)
        let valid = emit(
            "And", "valid",
            [
                emit(
                    "And", "valid_low",
                    [
                        emit("Greater", "y_above", [y, float(-1, "minus_one")]),
                        emit("Greater", "x_above", [x, float(-1, "minus_one")]),
                    ]),
                emit(
                    "And", "valid_high", [emit("Less", "y_below", [y, heightFloat]), emit("Less", "x_below", [x, widthFloat])]),
            ])
        // onnxruntime's weights: lh = y − ⌊y⌋, hh = 1 − lh (and lw, hw); corners hh·hw, hh·lw, lh·hw, lh·lw.
        let (y0, x0) = (emit("Floor", "y_floor", [y]), emit("Floor", "x_floor", [x]))
        let (ly, lx) = (emit("Sub", "ly", [y, y0]), emit("Sub", "lx", [x, x0]))
        let hy = emit("Sub", "hy", [float(1, "one"), ly]), hx = emit("Sub", "hx", [float(1, "one"), lx])
        let weights = [
            emit("Mul", "w1", [hy, hx]), emit("Mul", "w2", [hy, lx]), emit("Mul", "w3", [ly, hx]), emit("Mul", "w4", [ly, lx]),
        ]
        // The corners' rows in the table: ((n · H + r) · W + c) · G + g.
        let r0 = emit("Cast", "r0", [y0], toInt64), c0 = emit("Cast", "c0", [x0], toInt64)
        let r1 = emit("Add", "r1", [r0, context.int64Scalar(1, hint: "one")])
        let c1 = emit("Add", "c1", [c0, context.int64Scalar(1, hint: "one")])
        let batch = emit(
            "Reshape", "batch",
            [
                emit(
                    "Range", "batch_range",
                    [
                        context.int64Scalar(0, hint: "zero"), context.extent(of: offset, 0, in: node, step: "batch_count"),
                        context.int64Scalar(1, hint: "one"),
                    ]),
                context.int64Constant([-1, 1, 1, 1], hint: "shape"),
            ])
        let groups = context.addConstant(
            Tensor((0..<offsetGroups).map(Int64.init), shape: [1, offsetGroups, 1, 1]), hint: "offset_groups")
        let last = context.int64Constant([-1], hint: "last")
        var sum: String?
        for (i, (r, c)) in [(r0, c0), (r0, c1), (r1, c0), (r1, c1)].enumerated() {
            let name = "corner\(i + 1)"
            let inside = emit(
                "And", "\(name)_inside",
                [
                    emit(
                        "And", "\(name)_rows",
                        [
                            emit("GreaterOrEqual", "\(name)_row_from", [r, context.int64Scalar(0, hint: "zero")]),
                            emit("Less", "\(name)_row_to", [r, height]),
                        ]),
                    emit(
                        "And", "\(name)_columns",
                        [
                            emit("GreaterOrEqual", "\(name)_column_from", [c, context.int64Scalar(0, hint: "zero")]),
                            emit("Less", "\(name)_column_to", [c, width]),
                        ]),
                ])
            let row = emit(
                "Add", "\(name)_row",
                [
                    emit(
                        "Mul", "\(name)_row_start",
                        [emit("Add", "\(name)_image_row", [emit("Mul", "\(name)_plane", [batch, height]), r]), width]), c,
                ])
            let index = emit(
                "Where", "\(name)_index",
                [
                    inside,
                    emit(
                        "Add", "\(name)_grouped",
                        [emit("Mul", "\(name)_group_row", [row, context.int64Scalar(offsetGroups, hint: "groups")]), groups]),
                    context.int64Scalar(0, hint: "zero"),
                ])
            // [N, G, K, OH·OW, C / G]: 0 where the corner lies outside the image.
            let values = emit(
                "Where", "\(name)_values",
                [
                    emit("Unsqueeze", "\(name)_inside_row", [inside, last]),
                    emit("Gather", "\(name)_pixels", [rows, index], ["axis": .int(0)]), float(0, "zero"),
                ])
            let term = emit("Mul", "\(name)_term", [emit("Unsqueeze", "\(name)_weight", [weights[i], last]), values])
            sum = sum.map { emit("Add", "\(name)_sum", [$0, term]) } ?? term
        }
        var samples = emit(
            "Where", "samples", [emit("Unsqueeze", "valid_row", [valid, last]), sum!, float(0, "zero")])
        if let mask {
            let weighting = emit(
                "Reshape", "mask_taps", [mask, context.int64Constant([0, offsetGroups, k, -1, 1], hint: "shape")])
            samples = emit("Mul", "masked", [samples, weighting])
        }
        // [N, G, K, OH·OW, C / G] to [N, G, C / G, K, OH·OW], then to [N, C·K, OH, OW].
        let ordered = emit("Transpose", "ordered", [samples], ["perm": .ints([0, 1, 4, 2, 3])])
        let shape = emit(
            "Concat", "columns_shape",
            [
                context.extents(of: offset, 0, 1, in: node, step: "columns_batch"),
                context.int64Constant([channels * k], hint: "columns"), grid,
            ], ["axis": .int(0)])
        return emit("Reshape", "columns", [ordered, shape])
    }
}
