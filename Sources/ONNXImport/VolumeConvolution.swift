// A 3-D convolution (video, volumes), imported as the 2-D convolutions it sums: the depth
// axis folded into the batch, one 2-D convolution per depth of the kernel (each a layer of
// its own, with that depth's slice of the weights), each result's depths picked by a strided
// Slice, the picks added, then the bias. Other Conv nodes pass on as they are.
import IR

extension ImportContext {
    /// Emits Conv `node`; one with a constant 5-D weight [M, C/g, kd, kh, kw] over an input
    /// [N, C, D, H, W] of known depth becomes, with the depth padded by its pads:
    /// Σ_z Slice(Conv2d(input as [N·Dp, C, H, W], w[:, :, z]) as [N, Dp, M, H', W'], from
    /// z·dilation by stride, D' of them) + bias, transposed to [N, M, D', H', W']. New nodes
    /// are named `NAME/Conv_STEP`. auto_pad other than NOTSET is refused there by name.
    mutating func emitConvolution(_ node: Node) throws {
        guard node.inputs.count >= 2, let w = constants[node.inputs[1]], w.rank == 5, let x = node.input(0) else {
            var plain = node
            try upgrade(&plain, originalOp: node.op)
            return
        }
        guard node.string("auto_pad", default: "NOTSET") == "NOTSET" else {
            throw IRError("a 3-D convolution needs explicit pads, not auto_pad", at: node)
        }
        guard let dims = knownType(of: x)?.shape?.dims, dims.count == 5, let depth = dims[2].value else {
            throw IRError("a 3-D convolution needs its input's depth known; give the input's shape (--input-shape)", at: node)
        }
        let (kd, kh, kw) = (w.shape[2], w.shape[3], w.shape[4])
        let pads = node.ints("pads") ?? [0, 0, 0, 0, 0, 0], strides = node.ints("strides") ?? [1, 1, 1]
        let dilations = node.ints("dilations") ?? [1, 1, 1]
        guard pads.count == 6, strides.count == 3, dilations.count == 3 else {
            throw IRError("pads, strides and dilations must give 3 axes", at: node)
        }
        let padded = depth + pads[0] + pads[3], reach = dilations[0] * (kd - 1) + 1
        guard padded >= reach else { throw IRError("the kernel's depth \(kd) exceeds the padded depth \(padded)", at: node) }
        let outDepth = (padded - reach) / strides[0] + 1
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        func ints(_ values: [Int], _ hint: String) -> String { int64Constant(values, hint: hint) }
        var volume = x
        if pads[0] > 0 || pads[3] > 0 {
            volume = emit("Pad", "depth_padded", [x, ints([0, 0, pads[0], 0, 0, 0, 0, pads[3], 0, 0], "depth_pads")])
        }
        let (images, outer) = depthsAsImages(volume, of: node)
        var attributes = node.attributes
        attributes["pads"] = .ints([pads[1], pads[2], pads[4], pads[5]])
        attributes["strides"] = .ints([strides[1], strides[2]])
        attributes["dilations"] = .ints([dilations[1], dilations[2]])
        attributes["kernel_shape"] = .ints([kh, kw])
        var sum: String?
        for z in 0..<kd {
            let rows = imagesProduct(of: node, depth: z, images, w, attributes, outer: outer)
            let start = z * dilations[0]
            let picked = emit(
                "Slice", "depth\(z)_picked",
                [
                    rows, ints([start], "start"), ints([start + (outDepth - 1) * strides[0] + 1], "end"), ints([1], "axis"),
                    ints([strides[0]], "step"),
                ])
            sum = sum.map { emit("Add", "sum\(z)", [$0, picked]) } ?? picked
        }
        finishVolume(of: node, sum!)
    }

    // MARK: shared with the 3-D transposed convolution

    /// `volume` [N, D, ...] as [N·D, C, H, W] (its depths as images) and the extents [N, D].
    mutating func depthsAsImages(_ volume: String, of node: Node) -> (images: String, outer: String) {
        let depthFirst = emitStep(of: node, "Transpose", "depth_first", [volume], ["perm": .ints([0, 2, 1, 3, 4])])
        let all = int64Constant([-1], hint: "all"), image = extents(of: depthFirst, 2, 5, in: node, step: "image")
        let shape = emitStep(of: node, "Concat", "images_shape", [all, image], ["axis": .int(0)])
        return (
            emitStep(of: node, "Reshape", "images", [depthFirst, shape]),
            extents(of: depthFirst, 0, 2, in: node, step: "volume")
        )
    }

    /// The node's 2-D op over `images` with the weights of kernel depth `z` (w [A, B, kd, kh,
    /// kw] sliced to [A, B, kh, kw]), named `NAME/OP_depthZ`, its result as [N, D, M, H', W'].
    mutating func imagesProduct(
        of node: Node, depth z: Int, _ images: String, _ w: Tensor, _ attributes: [String: Attribute], outer: String
    ) -> String {
        let (kd, plane) = (w.shape[2], w.shape[3] * w.shape[4]), rows = w.shape[0] * w.shape[1]
        let values = w.floats()
        var slice = [Float](repeating: 0, count: rows * plane)
        for o in 0..<rows {
            for p in 0..<plane { slice[o * plane + p] = values[(o * kd + z) * plane + p] }
        }
        let weights = addConstant(
            Tensor(slice, shape: [w.shape[0], w.shape[1], w.shape[3], w.shape[4]]), hint: "w_depth\(z)")
        let base = node.name.isEmpty ? node.outputs[0] : node.name
        let product = freshName("\(base)_depth\(z)")
        nodes.append(
            Node(
                op: node.op, name: "\(base)/\(node.op)_depth\(z)", inputs: [images, weights], outputs: [product],
                attributes: attributes))
        let image = extents(of: product, 1, 4, in: node, step: "depth\(z)_image")
        let shape = emitStep(of: node, "Concat", "depth\(z)_shape", [outer, image], ["axis": .int(0)])
        return emitStep(of: node, "Reshape", "depth\(z)_volume", [product, shape])
    }

    /// `result` [N, D', M, H', W'] plus the node's bias, transposed into its output.
    mutating func finishVolume(of node: Node, _ result: String) {
        var result = result
        if let bias = node.input(2) {
            let perChannel = emitStep(
                of: node, "Reshape", "bias_shape", [bias, int64Constant([-1, 1, 1], hint: "per_channel")])
            result = emitStep(of: node, "Add", "bias", [result, perChannel])
        }
        nodes.append(
            Node(
                op: "Transpose", name: node.name, inputs: [result], outputs: node.outputs,
                attributes: ["perm": .ints([0, 2, 1, 3, 4])]))
    }
}
