// ConvTranspose's spatial arithmetic (pads from auto_pad or output_shape, output extents) and
// the convolution it equals: stride 1 over the input with stride − 1 zeros between
// neighbours and dilation·(k − 1) − pad zeros around it, with the kernel flipped.
import IR

/// The geometry of one ConvTranspose over `input` spatial extents with a `kernel`.
///
/// y = ConvTranspose(x, W) equals Conv(x', W') with stride 1 and the same dilations, where
/// x' spreads x out (stride − 1 zeros between neighbours, `zeroBegin` and `zeroEnd` zeros
/// before and after each axis; a negative count crops) and W'[g·M/G + m, c, k] =
/// W[g·C/G + c, m, K − 1 − k] (every spatial axis reversed, input and output channels
/// swapped within each group).
public struct ConvTransposeGeometry: Sendable, Equatable {
    public var input: [Int]
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var outputPadding: [Int]
    /// ONNX's pads, after auto_pad or output_shape chose them.
    public var padBegin: [Int]
    public var padEnd: [Int]
    public var output: [Int]

    public var spatialRank: Int { input.count }
    /// Zeros before each axis of the spread input: dilation·(k − 1) − pad.
    public var zeroBegin: [Int] { (0..<spatialRank).map { dilations[$0] * (kernel[$0] - 1) - padBegin[$0] } }
    /// Zeros after each axis: dilation·(k − 1) − pad + output_padding.
    public var zeroEnd: [Int] {
        (0..<spatialRank).map { dilations[$0] * (kernel[$0] - 1) - padEnd[$0] + outputPadding[$0] }
    }
    /// The spread input's extents: (D − 1)·stride + 1 plus both borders.
    public var spreadInput: [Int] {
        (0..<spatialRank).map { (input[$0] - 1) * strides[$0] + 1 + zeroBegin[$0] + zeroEnd[$0] }
    }

    public init(node: Node, input: [Int], kernel: [Int]) throws {
        let r = input.count
        self.input = input
        self.kernel = kernel
        (strides, dilations, padBegin, padEnd) = try WindowGeometry.attributes(node, rank: r, kernel: kernel)
        outputPadding = node.ints("output_padding") ?? Array(repeating: 0, count: r)
        guard outputPadding.count == r else {
            throw IRError("output_padding \(outputPadding) does not match \(r) spatial dimensions", at: node)
        }
        output = []
        let autoPad = node.string("auto_pad", default: "NOTSET")
        for d in 0..<r {
            let full = strides[d] * (input[d] - 1) + outputPadding[d] + (kernel[d] - 1) * dilations[d] + 1
            var target: Int?
            if let shape = node.ints("output_shape") {
                target = shape.count == r ? shape[d] : shape[shape.count - r + d]
            } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                target = input[d] * strides[d]
            } else if autoPad == "VALID" {
                (padBegin[d], padEnd[d]) = (0, 0)
            }
            if let target {
                let total = full - target
                if total < 0 {
                    // An output longer than the products reach (by less than a stride, as a
                    // convolution of that stride would read it back): onnxruntime pads
                    // nothing and leaves the positions past the end zero (the bias alone).
                    (padBegin[d], padEnd[d]) = (0, total)
                } else {
                    padBegin[d] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                    padEnd[d] = total - padBegin[d]
                }
            }
            output.append(full - padBegin[d] - padEnd[d])
            guard output[d] > 0 else {
                throw IRError("output extent \(output[d]) at spatial axis \(d) is not positive", at: node)
            }
        }
    }

    /// Writes `channels` planes of `src` (`input` extents) spread out into `dst`
    /// (`spreadInput` extents), which must hold zeros.
    func spread(_ src: UnsafePointer<Float>, channels: Int, into dst: UnsafeMutablePointer<Float>) {
        let r = spatialRank, inPlane = input.reduce(1, *), outPlane = spreadInput.reduce(1, *)
        let outStrides = contiguousStrides(spreadInput), begin = zeroBegin, spread = spreadInput
        for p in 0..<inPlane {
            var offset = 0, inside = true, rest = p
            for d in stride(from: r - 1, through: 0, by: -1) {
                let i = rest % input[d]
                rest /= input[d]
                let o = i * strides[d] + begin[d]
                if o < 0 || o >= spread[d] { inside = false; break }
                offset += o * outStrides[d]
            }
            guard inside else { continue }
            for c in 0..<channels { dst[c * outPlane + offset] = src[c * inPlane + p] }
        }
    }

    /// The equivalent convolution's weight [M, C/G, k...] from ConvTranspose's [C, M/G, k...]
    /// (`shape`), or with `inverse` ConvTranspose's back from the convolution's.
    public static func convolutionWeight(_ w: [Float], shape: [Int], groups: Int, inverse: Bool = false) -> [Float] {
        let c = shape[0], mg = shape[1], cg = c / groups, kk = shape[2...].reduce(1, *)
        var out = [Float](repeating: 0, count: w.count)
        for g in 0..<groups {
            for ci in 0..<cg {
                for m in 0..<mg {
                    let transposed = ((g * cg + ci) * mg + m) * kk, convolution = ((g * mg + m) * cg + ci) * kk
                    let (src, dst) = inverse ? (convolution, transposed) : (transposed, convolution)
                    for k in 0..<kk { out[dst + k] = w[src + kk - 1 - k] }
                }
            }
        }
        return out
    }
}
