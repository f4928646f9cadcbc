// The layer-wise Hessian H = Σ x·xᵀ of a layer's output error with respect to its weights,
// summed over the calibration vectors the weight met. With it, the error a changed weight
// causes on those inputs is exact without running the layer again: ‖(W − Ŵ)X‖² =
// Σ_rows δ·H·δᵀ. SparseGPT prunes with it; sensitivity analysis reports it per candidate.
import CBLAS
import IR
import Reference

public struct LayerHessian: Sendable {
    /// The weight's reduction length K.
    public let columns: Int
    /// One K x K block per convolution group.
    public let groups: Int
    /// [groups, K, K] row-major; symmetric. Zeroed when first summed into (or made
    /// symmetric), so that calibration's threads zero the layers' blocks side by side.
    public private(set) var gram: [Float] = []
    /// The vectors summed into each group's block, and the calibration samples they came from.
    public private(set) var vectors = 0
    public private(set) var samples = 0
    /// Floats in `gram`: K x K per group.
    var size: Int { groups * columns * columns }

    init(columns: Int, groups: Int) {
        self.columns = columns
        self.groups = groups
    }

    /// For a 3x3 convolution whose Hessian is built from its input's shifted products
    /// (`ShiftedGram`): their sums, added to `gram` when it is made symmetric.
    private var shifted: [Float] = []

    /// Adds the vectors layer `node` (weight `weightShape`) meets in its input `x`: through
    /// the shifted products where `ShiftedGram` applies, else through `InputGram`.
    mutating func add(_ node: Node, input x: Tensor, weightShape: [Int]) throws {
        samples += 1
        guard x.dtype == .float32, ShiftedGram.applies(node, input: x.shape, weightShape: weightShape) else {
            try accumulate { try InputGram.accumulate(node, input: x, weightShape: weightShape, into: $0) }
            return
        }
        if shifted.isEmpty { shifted = [Float](repeating: 0, count: ShiftedGram.accumulatorSize(channels: x.shape[1])) }
        vectors += shifted.withUnsafeMutableBufferPointer { ShiftedGram.accumulate(x, into: $0.baseAddress!) }
    }

    /// Adds one batch of vectors through `body`, which fills the upper triangle of each block.
    mutating func accumulate(_ body: (UnsafeMutablePointer<Float>) throws -> Int) rethrows {
        if gram.isEmpty { gram = [Float](repeating: 0, count: size) }
        vectors += try gram.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }

    /// Mirrors each block's upper triangle into its lower one, in tiles so that the reads
    /// down the columns stay in cache (the shifted products' sums added first).
    mutating func symmetrize() {
        if gram.isEmpty { gram = [Float](repeating: 0, count: size) }
        if !shifted.isEmpty {
            let channels = columns / 9
            shifted.withUnsafeBufferPointer { acc in
                gram.withUnsafeMutableBufferPointer {
                    ShiftedGram.assemble(acc.baseAddress!, channels: channels, into: $0.baseAddress!)
                }
            }
            shifted = []
        }
        let k = columns, tile = 32
        gram.withUnsafeMutableBufferPointer { gp in
            for g in 0..<groups {
                let h = gp.baseAddress! + g * k * k
                for i0 in stride(from: 0, to: k, by: tile) {
                    for j0 in stride(from: 0, through: i0, by: tile) {
                        for i in i0..<min(i0 + tile, k) {
                            for j in j0..<min(j0 + tile, i) { h[i * k + j] = h[j * k + i] }
                        }
                    }
                }
            }
        }
    }

    /// The Hessian of one weight that several layers read (an unrolled recurrence's steps):
    /// the layers' Hessians summed, in order, element by element. Nil when they differ in
    /// shape or one is not yet made symmetric.
    static func sum(_ hessians: [LayerHessian]) -> LayerHessian? {
        guard var total = hessians.first, !total.gram.isEmpty, total.shifted.isEmpty else { return nil }
        for h in hessians.dropFirst() {
            guard h.columns == total.columns, h.groups == total.groups, h.gram.count == total.gram.count, h.shifted.isEmpty
            else { return nil }
            for i in total.gram.indices { total.gram[i] += h.gram[i] }
            total.vectors += h.vectors
        }
        return total
    }

    /// Group `g`'s block, [K, K] row-major, for the length of `body`.
    func withBlock<R>(_ g: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try gram.withUnsafeBufferPointer {
            try body(UnsafeBufferPointer(rebasing: $0[(g * columns * columns)..<((g + 1) * columns * columns)]))
        }
    }

    /// The relative error of the layer's output (bias aside) on the calibration inputs when
    /// its weight `original` ([rows, K], rows split evenly over the groups) becomes
    /// `changed`: Σ‖(W − Ŵ)x‖² / Σ‖Wx‖².
    public func relativeOutputError(original: [Float], changed: [Float], rows: Int) -> Double {
        relativeOutputError(original: original, changed: changed, rows: rows, signal: outputEnergy(original, rows: rows))
    }

    /// As above, with Σ‖Wx‖² already known (`outputEnergy(original)`).
    public func relativeOutputError(original: [Float], changed: [Float], rows: Int, signal: Double) -> Double {
        precondition(changed.count == original.count)
        let noise = outputEnergy(zip(original, changed).map { $0 - $1 }, rows: rows)
        return signal > 0 ? noise / signal : (noise > 0 ? .infinity : 0)
    }

    /// Σ‖m·x‖² over the calibration vectors = Σ_r m_r·H·m_rᵀ, each row of `m` ([rows, K])
    /// with its group's block.
    public func outputEnergy(_ m: [Float], rows: Int) -> Double {
        precondition(m.count == rows * columns && rows % groups == 0)
        let k = columns, perGroup = rows / groups
        var product = [Float](repeating: 0, count: perGroup * k)
        var total = 0.0
        for g in 0..<groups {
            m.withUnsafeBufferPointer { mp in
                gram.withUnsafeBufferPointer { hp in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(perGroup), Int32(k), Int32(k), 1,
                        mp.baseAddress! + g * perGroup * k, Int32(k), hp.baseAddress! + g * k * k, Int32(k), 0,
                        &product, Int32(k))
                }
            }
            for r in 0..<perGroup {
                var dot = 0.0
                for j in 0..<k { dot += Double(product[r * k + j]) * Double(m[(g * perGroup + r) * k + j]) }
                total += dot
            }
        }
        return total
    }
}
