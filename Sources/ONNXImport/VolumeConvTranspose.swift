// A 3-D transposed convolution (a video decoder's or a 3-D U-Net's upsampling), imported as
// the 2-D ones it sums: the depth axis folded into the batch, one 2-D transposed convolution
// per depth of the kernel (each a layer of its own, with that depth's slice of the weights),
// each result's depths spread out by the stride (zeros between), shifted to where that
// kernel depth writes, the shifted results added, the depth pads cropped, then the bias.
// Other ConvTranspose nodes pass on as they are.
import IR

extension ImportContext {
    /// Emits ConvTranspose `node`; one with a constant 5-D weight [C, M/g, kd, kh, kw] over an
    /// input [N, C, D, H, W] of known depth becomes, with full depth
    /// F = (D − 1)·stride + (kd − 1)·dilation + 1 + output_padding:
    /// Σ_z Pad(spread(ConvTranspose2d(input as [N·D, C, H, W], w[:, :, z])), z·dilation before,
    /// to F), its depths [pad_begin, F − pad_end) + bias, transposed to [N, M, D', H', W'];
    /// spread places depth d at d·stride of D·stride (Unsqueeze, Pad, Reshape). New nodes are
    /// named `NAME/ConvTranspose_STEP`. auto_pad other than NOTSET and output_shape are
    /// refused there by name.
    mutating func emitTransposedConvolution(_ node: Node) throws {
        guard node.inputs.count >= 2, let w = constants[node.inputs[1]], w.rank == 5, let x = node.input(0) else {
            var plain = node
            try upgrade(&plain, originalOp: node.op)
            return
        }
        guard node.string("auto_pad", default: "NOTSET") == "NOTSET", node.ints("output_shape") == nil else {
            throw IRError("a 3-D transposed convolution needs explicit pads, not auto_pad or output_shape", at: node)
        }
        guard let dims = knownType(of: x)?.shape?.dims, dims.count == 5, let depth = dims[2].value else {
            throw IRError(
                "a 3-D transposed convolution needs its input's depth known; give the input's shape (--input-shape)", at: node)
        }
        let (kd, kh, kw) = (w.shape[2], w.shape[3], w.shape[4])
        let pads = node.ints("pads") ?? [0, 0, 0, 0, 0, 0], strides = node.ints("strides") ?? [1, 1, 1]
        let dilations = node.ints("dilations") ?? [1, 1, 1], extra = node.ints("output_padding") ?? [0, 0, 0]
        guard pads.count == 6, strides.count == 3, dilations.count == 3, extra.count == 3 else {
            throw IRError("pads, strides, dilations and output_padding must give 3 axes", at: node)
        }
        guard strides[0] >= 1, dilations[0] >= 1 else {
            throw IRError("the depth stride \(strides[0]) and dilation \(dilations[0]) must be positive", at: node)
        }
        // Checked here for all three axes, so that the error names this node and its axes, not
        // the 2-D nodes it becomes.
        if let problem = ShapeInference.outputPaddingProblem(extra, strides: strides) { throw IRError(problem, at: node) }
        let full = (depth - 1) * strides[0] + (kd - 1) * dilations[0] + 1 + extra[0]
        guard full > pads[0] + pads[3] else {
            throw IRError("the depth pads \(pads[0]) and \(pads[3]) leave nothing of \(full) output depths", at: node)
        }
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        func extents(_ v: String, _ from: Int, _ to: Int, _ step: String) -> String {
            self.extents(of: v, from, to, in: node, step: step)
        }
        /// Pads (or, where negative, crops) axis 1 of the rank-5 `v` by `before` and `after`.
        func alongDepth(_ v: String, _ before: Int, _ after: Int, _ step: String) -> String {
            var result = v
            if before > 0 || after > 0 {
                result = emit(
                    "Pad", step, [result, ints([0, max(before, 0), 0, 0, 0, 0, max(after, 0), 0, 0, 0], "depth_pads")])
            }
            if after < 0 {
                result = emit(
                    "Slice", "\(step)_cropped", [result, ints([0], "start"), ints([after], "end"), ints([1], "axis")])
            }
            return result
        }
        let (images, outer) = depthsAsImages(x, of: node)
        var attributes = node.attributes
        attributes["pads"] = .ints([pads[1], pads[2], pads[4], pads[5]])
        attributes["strides"] = .ints([strides[1], strides[2]])
        attributes["dilations"] = .ints([dilations[1], dilations[2]])
        attributes["output_padding"] = .ints([extra[1], extra[2]])
        attributes["kernel_shape"] = .ints([kh, kw])
        var sum: String?
        for z in 0..<kd {
            var rows = imagesProduct(of: node, depth: z, images, w, attributes, outer: outer)
            if strides[0] > 1 {
                // Depth d at d·stride: each depth followed by stride − 1 of zeros.
                let gaps = emit(
                    "Pad", "depth\(z)_gaps",
                    [
                        emit("Unsqueeze", "depth\(z)_each", [rows, ints([2], "axis")]),
                        ints([0, 0, 0, 0, 0, 0, 0, 0, strides[0] - 1, 0, 0, 0], "gap_pads"),
                    ])
                rows = emit(
                    "Reshape", "depth\(z)_spread",
                    [
                        gaps,
                        emit(
                            "Concat", "depth\(z)_spread_shape",
                            [extents(gaps, 0, 1, "depth\(z)_batch"), ints([-1], "all"), extents(gaps, 3, 6, "depth\(z)_plane")],
                            ["axis": .int(0)]),
                    ])
            }
            let shift = z * dilations[0]
            let placed = alongDepth(rows, shift, full - shift - depth * strides[0], "depth\(z)_placed")
            sum = sum.map { emit("Add", "sum\(z)", [$0, placed]) } ?? placed
        }
        var result = sum!
        if pads[0] > 0 || pads[3] > 0 {
            result = emit(
                "Slice", "depth_cropped",
                [result, ints([pads[0]], "start"), ints([full - pads[3]], "end"), ints([1], "axis")])
        }
        finishVolume(of: node, result)
    }
}
