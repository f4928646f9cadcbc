// Calibration statistics: the streaming histogram against direct computation, and each
// method on distributions where the right answer is known.
import IR
import Passes
import TestSupport
import XCTest

final class CalibrationTests: XCTestCase {
    private func histogram(_ chunks: [[Float]]) -> ActivationHistogram {
        var h = ActivationHistogram()
        for c in chunks { c.withUnsafeBufferPointer { h.add($0) } }
        return h
    }

    func testStreamingHistogramKeepsCountsWhenItsRangeGrows() {
        var rng = SeededRandom(seed: 5)
        let chunks = (0..<20).map { k in (0..<500).map { _ in Float.random(in: -1...1, using: &rng) * Float(k + 1) } }
        let h = histogram(chunks)
        let all = chunks.flatMap { $0 }
        XCTAssertEqual(h.bins.reduce(0, +), Double(all.count))
        XCTAssertEqual(h.minimum, all.min())
        XCTAssertEqual(h.maximum, all.max())
        XCTAssertGreaterThanOrEqual(h.range, h.absMax)
        // The percentile is within one bin of the exact order statistic.
        let sorted = all.map(\.magnitude).sorted()
        let exact = sorted[Int(0.9 * Double(sorted.count)) - 1]
        XCTAssertEqual(h.percentile(90), exact, accuracy: h.range / Float(ActivationHistogram.binCount) * 1.01)
    }

    /// The same values give the same histogram to the bit however they are batched and
    /// ordered: the range is the least power of two above their largest magnitude, not one
    /// the first batch sets, and zeros before any other value leave it unset.
    func testTheHistogramIsTheSameHoweverTheValuesAreBatched() {
        var rng = SeededRandom(seed: 31)
        for trial in 0..<40 {
            let spread = Float(sign: .plus, exponent: Int.random(in: -30...30, using: &rng), significand: 1)
            var values = (0..<Int.random(in: 1...3000, using: &rng)).map { k -> Float in
                k % 7 == 0 ? 0 : Float.random(in: -1...1, using: &rng) * spread * Float.random(in: 0...3, using: &rng)
            }
            let whole = histogram([values])
            XCTAssertEqual(whole.range, Float(sign: .plus, exponent: whole.absMax.exponent + 1, significand: 1))
            for _ in 0..<3 {
                values.shuffle(using: &rng)
                values.sort { ($0 == 0 ? 0 : 1, $0.magnitude) < ($1 == 0 ? 0 : 1, $1.magnitude) }
                if Bool.random(using: &rng) { values.shuffle(using: &rng) }
                var chunks: [[Float]] = [], rest = values[...]
                while !rest.isEmpty {
                    let n = Int.random(in: 1...max(1, rest.count), using: &rng)
                    chunks.append(Array(rest.prefix(n)))
                    rest = rest.dropFirst(n)
                }
                let h = histogram(chunks)
                XCTAssertEqual(h.range, whole.range, "trial \(trial)")
                XCTAssertEqual(h.bins, whole.bins, "trial \(trial)")
                for method in [CalibrationMethod.percentile(99), .entropy, .mse] {
                    XCTAssertEqual(method.amax(h), method.amax(whole), "trial \(trial), \(method)")
                }
            }
        }
    }

    /// Each finite value counts once, in bin ⌊|v| · binCount / range⌋ (the last for |v| at the
    /// range's top), whatever its place among the eight values binned at once: runs of one
    /// value, zeros of either sign, NaNs and infinities anywhere, lengths not a multiple of 8.
    func testEveryValueLandsInItsBin() {
        var rng = SeededRandom(seed: 23)
        let special: [Float] = [0, -0.0, .nan, .infinity, -.infinity, 4, -4, 3.9999998, 1e-30]
        for trial in 0..<200 {
            let values = (0..<Int.random(in: 1...300, using: &rng)).map { _ -> Float in
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: return special[Int.random(in: 0..<special.count, using: &rng)]
                case 1...3: return 0
                default: return Float.random(in: -4...4, using: &rng)
                }
            }
            let h = histogram([values])
            guard h.range > 0 else { continue }
            var expected = [Double](repeating: 0, count: ActivationHistogram.binCount)
            let scale = Float(ActivationHistogram.binCount) / h.range
            for v in values where v.isFinite {
                expected[min(Int(v.magnitude * scale), ActivationHistogram.binCount - 1)] += 1
            }
            XCTAssertEqual(h.bins, expected, "trial \(trial): \(values)")
        }
    }

    /// Values at each bin's edges and one float either side, eight at a time or left over,
    /// count where the scalar rule ⌊|v| · scale⌋ puts them, for a scale that is a power of two
    /// and for ones that are not (the values' own scale: bins of 3 / 1,024 for a top of 3).
    func testValuesAtTheBinEdgesLandWhereTheScalarRulePutsThem() {
        for (top, range): (Float, Float) in [(1024, 2048), (3, 4), (0.7, 1), (1e-20, 0x1p-66)] {
            // The first values set the range to the least power of two above their largest
            // magnitude.
            var values: [Float] = [top]
            let scale = Float(ActivationHistogram.binCount) / range
            for k in stride(from: 0, through: ActivationHistogram.binCount / 2, by: 1) {
                let edge = Float(k) / scale
                values += [edge, edge.nextDown, edge.nextUp, -edge.nextUp]
            }
            values = values.filter { $0.magnitude <= top }
            for n in [values.count, values.count - 3] {
                let h = histogram([Array(values.prefix(n))])
                XCTAssertEqual(h.range, range)
                var expected = [Double](repeating: 0, count: ActivationHistogram.binCount)
                for v in values.prefix(n) { expected[min(Int(v.magnitude * scale), ActivationHistogram.binCount - 1)] += 1 }
                XCTAssertEqual(h.bins, expected, "top \(top), \(n) values")
            }
        }
    }

    /// The minimum and maximum, to the bit, are those of `low = min(low, v); high = max(high,
    /// v)` over every chunk in turn: NaNs and infinities skipped, the first of equal least
    /// values kept and the last of equal greatest ones taken (-0 and +0 are equal but not the
    /// same bits).
    func testExtremesAreTheLoopsToTheBit() {
        var rng = SeededRandom(seed: 11)
        let pool: [Float] = [0, -0.0, 0, -0.0, .nan, 1.5, -2, 3, -.infinity, .infinity]
        for trial in 0..<400 {
            let chunks = (0..<3).map { _ in
                (0..<Int.random(in: 0...37, using: &rng)).map { _ in
                    trial % 2 == 0
                        ? pool[Int.random(in: 0..<pool.count, using: &rng)]
                        : [0, -0.0, -1, 1][Int.random(in: 0..<4, using: &rng)]
                }
            }
            var low = Float.infinity, high = -Float.infinity
            var h = ActivationHistogram()
            for c in chunks {
                for v in c where v.isFinite {
                    low = min(low, v)
                    high = max(high, v)
                }
                c.withUnsafeBufferPointer { h.add($0) }
                guard low <= high else { continue }
                XCTAssertEqual(h.minimum.bitPattern, low.bitPattern, "\(chunks)")
                XCTAssertEqual(h.maximum.bitPattern, high.bitPattern, "\(chunks)")
            }
        }
    }

    /// A masked score's -inf (an attention mask, a selection's masked element) neither
    /// stretches the range nor counts: every method gives the finite values' amax.
    func testInfinitiesAreLeftOutOfTheRangeAndTheCounts() {
        let h = histogram([[-.infinity, 0.5, -1.5], [.infinity, 2, .nan, -.infinity]])
        XCTAssertEqual(h.minimum, -1.5)
        XCTAssertEqual(h.maximum, 2)
        XCTAssertEqual(h.count, 3)
        XCTAssertEqual(h.bins.reduce(0, +), 3)
        XCTAssertTrue(h.range.isFinite)
        for method in [CalibrationMethod.minmax, .percentile(99.99), .entropy, .mse] {
            XCTAssertLessThanOrEqual(method.amax(h), 2, "\(method)")
            XCTAssertGreaterThan(method.amax(h), 0, "\(method)")
        }
    }

    func testMethodsOnAHeavyTailedDistribution() {
        // Most values within 1, one outlier at 100: minmax takes the outlier, the others clip it.
        var values = (0..<100_000).map { Float(($0 % 2001) - 1000) / 1000 }
        values.append(100)
        let h = histogram([values])
        XCTAssertEqual(CalibrationMethod.minmax.amax(h), 100)
        XCTAssertLessThan(CalibrationMethod.percentile(99.9).amax(h), 1.1)
        XCTAssertLessThan(CalibrationMethod.entropy.amax(h), 50)
        // E4M3's dynamic range keeps small values exact enough that clipping the outlier costs
        // more than it saves: the MSE choice keeps (nearly) all of it.
        XCTAssertGreaterThan(CalibrationMethod.mse.amax(h), 50)
        XCTAssertLessThanOrEqual(CalibrationMethod.mse.amax(h), 100)
        XCTAssertEqual(CalibrationMethod("percentile:99.9"), .percentile(99.9))
        XCTAssertEqual(CalibrationMethod("percentile"), .percentile(99.99))
        XCTAssertNil(CalibrationMethod("percentile:120"))
        XCTAssertNil(CalibrationMethod("kl"))
        // A parameter only percentile takes, in its range; each refusal says which.
        for (text, message) in [
            ("kl", "unknown calibration method \"kl\" (minmax, percentile, percentile:P, entropy, mse)"),
            ("entropy:foo", "\"entropy:foo\": entropy takes no parameter (only percentile:P does)"),
            ("mse:", "\"mse:\": mse takes no parameter (only percentile:P does)"),
            ("percentile:0", "\"percentile:0\": the percentile P of percentile:P is a number above 0 and at most 100, not \"0\""),
            ("percentile:", "\"percentile:\": the percentile P of percentile:P is a number above 0 and at most 100, not \"\""),
        ] {
            XCTAssertThrowsError(try CalibrationMethod.parse(text)) { XCTAssertEqual("\($0)", message) }
        }
        XCTAssertEqual(try CalibrationMethod.parse("percentile:100"), .percentile(100))
    }

    /// An activation all below 1e-36 (a model whose values die away layer after layer),
    /// zeros among them, eight at a time and one by one: every value counts in a bin, and the
    /// methods give amaxes within the values' range.
    func testValuesTooSmallForTheBinsScaleStillLandInBins() {
        for tiny: Float in [1e-37, .leastNormalMagnitude / 4096, .leastNonzeroMagnitude] {
            let values = (0..<19).map { $0 % 3 == 0 ? 0 : Float($0) * tiny }
            let h = histogram([values, [0, tiny]])
            XCTAssertEqual(h.count, 21, "\(tiny)")
            XCTAssertEqual(h.maximum, 17 * tiny)
            XCTAssertTrue(h.range.isFinite && h.range > 0)
            for method in [CalibrationMethod.minmax, .percentile(99.99), .entropy, .mse] {
                XCTAssertLessThanOrEqual(method.amax(h), 17 * tiny, "\(method) at \(tiny)")
                XCTAssertGreaterThan(method.amax(h), 0, "\(method) at \(tiny)")
            }
        }
    }

    func testAllZeroActivationHasZeroRange() {
        let h = histogram([[0, 0, 0]])
        for method in [CalibrationMethod.minmax, .percentile(99.99), .entropy, .mse] { XCTAssertEqual(method.amax(h), 0) }
    }

    /// x -> Conv(w) -> Relu -> Add(x): a layer whose input is the graph input, and values no
    /// layer reads.
    private func convolutionGraph(channels: Int) -> Graph {
        var b = GraphBuilder()
        let x = b.input("x", .float32, [.known(2), .known(channels), .known(3), .known(5)])
        var rng = SeededRandom(seed: 3)
        let w = b.constant(
            "w",
            Tensor(
                (0..<channels * channels).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [channels, channels, 1, 1]))
        let y = b.node("Conv", [x, w], outputs: ["y"])[0]
        let r = b.node("Relu", [y], outputs: ["r"])[0]
        b.output(b.node("Add", [r, x], outputs: ["z"])[0])
        return b.graph
    }

    /// Each channel's sum and sum of squares are float32 sums in element order, one per image,
    /// added in double image by image, sample by sample: the same to the bit for the channels
    /// summed four at a time and for those left over (six channels: four, then two).
    func testChannelMomentsAreEachChannelsSumsInOrder() throws {
        let channels = 6, inner = 15
        let graph = convolutionGraph(channels: channels)
        var rng = SeededRandom(seed: 9)
        let samples = (0..<3).map { _ in
            Tensor((0..<2 * channels * inner).map { _ in Float.random(in: -3...3, using: &rng) }, shape: [2, channels, 3, 5])
        }
        var calibrator = try Calibrator(graph: graph, ranges: .layerInputs)
        try calibrator.observe(batch: samples.map { ["x": $0] })
        var sums = [Double](repeating: 0, count: channels), squares = sums
        for t in samples {
            let v = t.floats()
            for image in 0..<2 {
                for c in 0..<channels {
                    var sum: Float = 0, square: Float = 0
                    for j in 0..<inner {
                        let x = v[(image * channels + c) * inner + j]
                        sum += x
                        square += x * x
                    }
                    sums[c] += Double(sum)
                    squares[c] += Double(square)
                }
            }
        }
        let count = Double(3 * 2 * inner)
        XCTAssertEqual(calibrator.inputMeans()["x"], sums.map { Float($0 / count) })
        XCTAssertEqual(calibrator.inputNorms()["x"], squares.map { Float($0.squareRoot()) })
    }

    /// A layer input without channels (an extent of 0 on its channel axis) has no moments to
    /// add: observing it leaves each channel's statistics as they were, none.
    func testALayerInputWithoutChannelsHasNoMoments() throws {
        let graph = convolutionGraph(channels: 0)
        var calibrator = try Calibrator(graph: graph, ranges: .layerInputs)
        try calibrator.observe(batch: [["x": Tensor([Float](), shape: [2, 0, 3, 5])]])
        XCTAssertEqual(calibrator.inputMeans()["x"], [])
        XCTAssertEqual(calibrator.inputNorms()["x"], [])
    }

    /// Layer inputs only: the Conv's input gets its range, the values no layer reads none; every
    /// value: all of them, the layer input's range the same.
    func testLayerInputsAloneGetRangesWhenAsked() throws {
        let graph = convolutionGraph(channels: 4)
        var rng = SeededRandom(seed: 4)
        let sample = ["x": Tensor((0..<2 * 4 * 15).map { _ in Float.random(in: -2...2, using: &rng) }, shape: [2, 4, 3, 5])]
        var inputs = try Calibrator(graph: graph, ranges: .layerInputs)
        var every = try Calibrator(graph: graph)
        try inputs.observe(sample)
        try every.observe(sample)
        XCTAssertEqual(inputs.ranges(.minmax).map(\.name), ["x"])
        XCTAssertEqual(every.ranges(.minmax).map(\.name), ["x", "y", "r", "z"])
        XCTAssertEqual(inputs.ranges(.minmax)[0], every.ranges(.minmax)[0])
        XCTAssertEqual(inputs.histograms["x"]?.bins, every.histograms["x"]?.bins)
    }
}
