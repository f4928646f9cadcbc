// A Conv or ConvTranspose node as the convolution layer the backend lowers: a Conv as it
// is, a ConvTranspose as the stride-1 convolution it equals over its input spread out
// (ConvTransposeGeometry), whose flipped weight the weight section packed.
import IR
import Reference

extension ConvolutionLayer {
    /// `node` (Conv or ConvTranspose, 1-D or 2-D) with input `x` and output `y` at these addresses
    /// (their spaces set apart) and of these shapes; `p` its packed weights, `matrix` its matrix part.
    init(
        _ node: Node, _ p: PackedLayer, input x: UInt64, _ xShape: [Int], output y: UInt64, _ yShape: [Int],
        matrix: MatrixLayer, scratch: UInt64
    ) throws {
        if xShape.count == 3, yShape.count == 3, p.weightShape.count == 3 {
            // A 1-D convolution is the 2-D one over a single row; its weights pack alike.
            var rows = p
            rows.weightShape = liftedShape(p.weightShape)
            try self.init(
                node.liftedToTwoDimensions(), rows, input: x, liftedShape(xShape), output: y, liftedShape(yShape),
                matrix: matrix, scratch: scratch)
            return
        }
        guard xShape.count == 4, yShape.count == 4, p.weightShape.count == 4 else {
            throw IRError("cannot lower a \(node.op) over other than one or two spatial axes yet", at: node)
        }
        let groups = node.int("group", default: 1)
        let kernel = (p.weightShape[2], p.weightShape[3])
        let dilations = node.ints("dilations") ?? [1, 1]
        var pads = node.ints("pads") ?? [0, 0, 0, 0], strides = node.ints("strides") ?? [1, 1], spacing = (1, 1)
        if node.op == "ConvTranspose" {
            let g = try ConvTransposeGeometry(node: node, input: Array(xShape[2...]), kernel: [kernel.0, kernel.1])
            guard g.output == Array(yShape[2...]) else {
                throw IRError("output extents \(g.output) differ from the inferred shape \(yShape)", at: node)
            }
            (pads, strides, spacing) = (g.zeroBegin + g.zeroEnd, [1, 1], (g.strides[0], g.strides[1]))
        } else {
            guard node.string("auto_pad", default: "NOTSET") == "NOTSET" else {
                throw IRError("cannot lower auto_pad yet (canonical pads expected)", at: node)
            }
        }
        self.init(
            batch: xShape[0], channels: xShape[1], height: xShape[2], width: xShape[3], outChannels: yShape[1],
            outHeight: yShape[2], outWidth: yShape[3], kernel: kernel, strides: (strides[0], strides[1]),
            dilations: (dilations[0], dilations[1]), pads: (pads[0], pads[1], pads[2], pads[3]),
            input: x, output: y, matrix: matrix, scratch: scratch, groups: groups, inputSpacing: spacing)
    }
}

extension Node {
    /// This 1-D windowed node (Conv, ConvTranspose, a pool) as the 2-D node it equals over
    /// [N, C, 1, L]: a kernel, strides and dilations of one row, no padding above or below,
    /// an output padding and output shape of one row.
    func liftedToTwoDimensions() -> Node {
        var lifted = self
        for (key, row) in [("kernel_shape", 1), ("strides", 1), ("dilations", 1), ("output_padding", 0), ("output_shape", 1)] {
            if let values = ints(key), values.count == 1 { lifted.attributes[key] = .ints([row] + values) }
        }
        if let pads = ints("pads"), pads.count == 2 { lifted.attributes["pads"] = .ints([0, pads[0], 0, pads[1]]) }
        return lifted
    }
}

/// `shape` [N, C, L] as [N, C, 1, L].
func liftedShape(_ shape: [Int]) -> [Int] { shape.count == 3 ? [shape[0], shape[1], 1, shape[2]] : shape }
