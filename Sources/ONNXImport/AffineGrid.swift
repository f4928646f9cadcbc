// AffineGrid (torch's affine_grid, the sampling grid of a spatial transformer), imported as
// the arithmetic it is: the pixel centres (or corners) of the output in [-1, 1], each moved
// by its sample's 2x3 matrix. The base coordinates fold to constants once the size is known.
import IR

extension ImportContext {
    /// Emits AffineGrid `node` (theta [N, 2, 3] of float32, size [N, C, H, W] as int64;
    /// `align_corners`) as grid[n, h, w] = θ[n]·(x_w, y_h, 1), summed as θ₀·x + θ₁·y + θ₂:
    /// x_w = (2w + 1) / W − 1 (pixel centres), or w · 2 / (W − 1) − 1 aligned (0 when W is
    /// 1), and y_h likewise over H. New nodes are named `NAME/AffineGrid_STEP`.
    mutating func emitAffineGrid(_ node: Node) throws {
        guard node.inputs.count == 2, let theta = node.input(0), let size = node.input(1), node.outputs.count == 1,
            !node.outputs[0].isEmpty
        else { throw IRError("takes theta and size and gives one output", at: node) }
        if let count = knownType(of: size)?.shape?.dims.first?.value, count != 4 {
            throw IRError(
                "size has \(count) values: AffineGrid is supported for 2-D images (size [N, C, H, W], theta [N, 2, 3]) only",
                at: node)
        }
        if let type = knownType(of: theta) {
            if type.dtype != .float32 { throw IRError("theta of \(type.dtype.name) is not supported (float32 only)", at: node) }
            if let shape = type.shape, shape.rank != 3 || shape.dims[1].value.map({ $0 != 2 }) == true {
                throw IRError("theta is \(shape); a 2-D grid takes [N, 2, 3]", at: node)
            }
        }
        let aligned = node.int("align_corners", default: 0) != 0
        func emit(_ op: String, _ step: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
            emitStep(of: node, op, step, inputs, attributes)
        }
        let one = addConstant(Tensor(scalar: Float(1)), hint: "one"), two = addConstant(Tensor(scalar: Float(2)), hint: "two")
        /// The normalized coordinates along size's axis `index`, shaped by `shape`.
        func coordinates(_ index: Int, _ name: String, shape: [Int]) -> String {
            let count = emit("Gather", "\(name)_count", [size, int64Scalar(index, hint: "axis")], ["axis": .int(0)])
            let position = emit(
                "Cast", "\(name)_position",
                [emit("Range", "\(name)_range", [int64Scalar(0, hint: "zero"), count, int64Scalar(1, hint: "one")])],
                ["to": .int(Int(DType.float32.rawValue))])
            let extent = emit("Cast", "\(name)_extent", [count], ["to": .int(Int(DType.float32.rawValue))])
            let value: String
            if aligned {
                let step = emit("Div", "\(name)_step", [two, emit("Sub", "\(name)_gaps", [extent, one])])
                let moved = emit("Sub", "\(name)_moved", [emit("Mul", "\(name)_scaled", [position, step]), one])
                // One pixel has no corners apart: it sits at the centre, 0, as in torch
                // (onnxruntime gives 1, ONNX's reference -1).
                let zero = addConstant(Tensor(scalar: Float(0)), hint: "zero")
                let single = emit("Equal", "\(name)_single", [extent, one])
                value = emit("Where", "\(name)_aligned", [single, zero, moved])
            } else {
                let doubled = emit("Add", "\(name)_doubled", [emit("Mul", "\(name)_twice", [position, two]), one])
                value = emit("Sub", "\(name)_centred", [emit("Div", "\(name)_fraction", [doubled, extent]), one])
            }
            return emit("Reshape", name, [value, int64Constant(shape, hint: "shape")])
        }
        let x = coordinates(3, "x", shape: [1, 1, -1, 1]), y = coordinates(2, "y", shape: [1, -1, 1, 1])
        // θ's columns, each [N, 1, 1, 2]: the weights of x, of y, and the translation.
        let columns = emitSplit(of: node, theta, into: 3, step: "column").enumerated().map { k, column in
            emit("Reshape", "column\(k)_shaped", [column, int64Constant([-1, 1, 1, 2], hint: "shape")])
        }
        let moved = emit(
            "Add", "linear", [emit("Mul", "from_x", [columns[0], x]), emit("Mul", "from_y", [columns[1], y])])
        nodes.append(Node(op: "Add", name: node.name, inputs: [moved, columns[2]], outputs: node.outputs))
    }
}
