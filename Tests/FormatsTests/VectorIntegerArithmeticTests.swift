// The vector unit's integer rules (VectorArithmetic+Integers.swift) on their edge cases:
// wraparound, division and remainders by zero and of the most negative value, the bit ops
// and shifts past the width, float-to-integer truncation of NaN, infinities and values past
// int64's range, and the arg ops' ties.
import Formats
import XCTest

final class VectorIntegerArithmeticTests: XCTestCase {
    private func binary(_ op: String, _ a: Int64, _ b: Int64, bits: Int = 64) -> Int64 {
        VectorArithmetic.wrapped(VectorArithmetic.integerBinary[op]!(a, b), bits: bits)
    }

    func testArithmeticWrapsAround() {
        XCTAssertEqual(binary("add", .max, 1), .min)
        XCTAssertEqual(binary("mul", 1 << 62, 4), 0)
        XCTAssertEqual(binary("add", Int64(Int32.max), 1, bits: 32), Int64(Int32.min))
        XCTAssertEqual(VectorArithmetic.integerUnary["neg"]!(.min), .min)
        XCTAssertEqual(VectorArithmetic.integerUnary["abs"]!(.min), .min)
    }

    func testDivisionTruncatesAndAZeroDivisorGivesZero() {
        XCTAssertEqual(binary("div", -7, 2), -3)
        XCTAssertEqual(binary("div", 7, -2), -3)
        XCTAssertEqual(binary("div", 5, 0), 0)
        XCTAssertEqual(binary("div", .min, -1), .min)
        XCTAssertEqual(binary("div", Int64(Int32.min), -1, bits: 32), Int64(Int32.min))
    }

    func testRemaindersTakeTheDivisorsOrTheDividendsSign() {
        XCTAssertEqual([binary("mod", -7, 3), binary("mod", 7, -3), binary("mod", -6, 3), binary("mod", 5, 0)], [2, -2, 0, 0])
        XCTAssertEqual([binary("fmod", -7, 3), binary("fmod", 7, -3), binary("fmod", .min, -1)], [-1, 1, 0])
    }

    func testFloatToIntegerTruncatesTowardZero() {
        let cases: [(Float, Int64)] = [
            (2.9, 2), (-2.9, -2), (-0.5, 0), (.nan, 0), (.infinity, .max), (-.infinity, .min), (1e20, .max),
            (-9.3e18, .min), (9.2e18, 9_200_000_267_938_955_264),
        ]
        for (x, want) in cases { XCTAssertEqual(VectorArithmetic.truncated(x), want, "\(x)") }
        XCTAssertEqual(VectorArithmetic.wrapped(VectorArithmetic.truncated(3e9), bits: 32), -1_294_967_296)
        XCTAssertEqual(VectorArithmetic.wrapped(VectorArithmetic.truncated(1e20), bits: 32), -1)
    }

    func testComparisonsOfIntegersAreExact() {
        let big: Int64 = 1 << 53
        XCTAssertEqual(Double(big + 1), Double(big))
        XCTAssertFalse(VectorArithmetic.integerComparisons["equal"]!(big + 1, big))
        XCTAssertTrue(VectorArithmetic.integerComparisons["greater"]!(big + 1, big))
    }

    func testBitsAreTheTwosComplementsAndShiftsKeepTheWidth() {
        XCTAssertEqual([binary("bit_and", -4, 6), binary("bit_or", -8, 3), binary("bit_xor", -1, 5)], [4, -5, -6])
        XCTAssertEqual(VectorArithmetic.integerUnary["bit_not"]!(0), -1)
        func shift(_ x: Int64, _ n: Int64, left: Bool, bits: Int = 32, signed: Bool = true) -> Int64 {
            VectorArithmetic.wrapped(VectorArithmetic.shifted(x, by: n, left: left, bits: bits, signed: signed), bits: bits)
        }
        // Left: bits past the width dropped; right: arithmetic when signed, logical when not.
        XCTAssertEqual(shift(0x4000_0001, 1, left: true), Int64(Int32(bitPattern: 0x8000_0002)))
        XCTAssertEqual(shift(-8, 1, left: false), -4)
        XCTAssertEqual(shift(-8, 1, left: false, bits: 64, signed: false), Int64.max - 3)
        XCTAssertEqual(shift(.min, 63, left: false, bits: 64), -1)
        // Amounts outside [0, width): what the sign alone fills in.
        XCTAssertEqual([shift(-8, 32, left: false), shift(-8, -1, left: false), shift(8, 32, left: false)], [-1, -1, 0])
        XCTAssertEqual(
            [shift(-8, 32, left: true), shift(1, -1, left: true), shift(1, 31, left: true)], [0, 0, Int64(Int32.min)])
    }

    func testArgExtremesTakeTheFirstOrTheLastOfTies() {
        let row: [Float] = [1, 3, .nan, 3, -1]
        XCTAssertEqual(VectorArithmetic.argExtreme(count: 5, largest: true, last: false) { row[$0] }, 1)
        XCTAssertEqual(VectorArithmetic.argExtreme(count: 5, largest: true, last: true) { row[$0] }, 3)
        XCTAssertEqual(VectorArithmetic.argExtreme(count: 5, largest: false, last: false) { row[$0] }, 4)
        let nanFirst: [Float] = [.nan, 5, 7]
        XCTAssertEqual(VectorArithmetic.argExtreme(count: 3, largest: true, last: false) { nanFirst[$0] }, 0)
    }
}
