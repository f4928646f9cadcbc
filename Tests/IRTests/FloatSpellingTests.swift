// Float literals in the text form, checked against numpy and ml_dtypes: every literal the
// printer writes reads back (in Python's own parsers) to the exact bits it came from, and
// is no longer than numpy's shortest round-trip repr (f16, f32, f64; fp8 values print
// exactly).
import IR
import TestSupport
import XCTest

final class FloatSpellingTests: XCTestCase {
    /// Reads "dtype literal bits" lines; prints one line per literal that does not parse
    /// to its bits or is longer than numpy's shortest unique repr, then "checked N".
    private let checker = """
        import sys, numpy as np, ml_dtypes
        kinds = {"f16": np.float16, "bf16": ml_dtypes.bfloat16, "f32": np.float32, "f64": np.float64,
                 "f8e4m3": ml_dtypes.float8_e4m3fn, "f8e5m2": ml_dtypes.float8_e5m2}
        uints = {"f16": np.uint16, "bf16": np.uint16, "f32": np.uint32, "f64": np.uint64,
                 "f8e4m3": np.uint8, "f8e5m2": np.uint8}
        def digits(text):
            mantissa = text.lower().lstrip("-").split("e")[0].replace(".", "")
            return len(mantissa.strip("0")) or 1
        n = 0
        for line in sys.stdin:
            kind, literal, bits = line.split()
            value = kinds[kind](float(literal))
            got = int(np.array([value]).view(uints[kind])[0])
            if got != int(bits, 16):
                print("BITS", kind, literal, bits, hex(got))
            if kind in ("f16", "f32", "f64") and not np.isinf(value):
                shortest = np.format_float_scientific(value, unique=True)
                if digits(literal) > digits(shortest):
                    print("LONGER", kind, literal, shortest)
            n += 1
        print("checked", n)
        """

    /// Every f16, bf16, f8e4m3 and f8e5m2 bit pattern, and random f32 and f64 ones.
    func testLiteralsReadBackExactlyInNumpyAndAreShortest() throws {
        var rng = SeededRandom(seed: 11)
        var g = Graph()
        var expected: [String: [UInt64]] = [:]
        for dtype in [DType.float16, .bfloat16, .float32, .float64, .float8e4m3fn, .float8e5m2] {
            var all =
                dtype.byteSize == 2
                ? (0...UInt64(UInt16.max)).map { $0 }
                : (0..<4096).map { _ in
                    UInt64.random(in: 0...UInt64.max, using: &rng) >> (64 - 8 * dtype.byteSize)
                }
            if dtype.byteSize == 1 {
                // Every code but the NaNs (a line with a NaN lacking a literal prints as hex),
                // topped up to whole lines with the NaN that `nan` reads as.
                let code = { (c: UInt8) in Tensor([c], shape: [1]).reinterpreted(as: dtype) }
                all = (0...255).filter { !code(UInt8($0)).double(at: 0).isNaN }.map(UInt64.init)
                let nan = UInt64(
                    Tensor([Float.nan], shape: [1]).cast(to: dtype).reinterpreted(as: .uint8).scalars(as: UInt8.self)[0])
                all += Array(repeating: nan, count: (16 - all.count % 16) % 16)
            }
            for start in stride(from: 0, to: all.count, by: 16) {
                let bits = Array(all[start..<start + 16])
                let t = Tensor(zeros: dtype, shape: [16])
                for (i, b) in bits.enumerated() {
                    withUnsafeBytes(of: b.littleEndian) {
                        (t.storage.base + i * dtype.byteSize).copyMemory(from: $0.baseAddress!, byteCount: dtype.byteSize)
                    }
                }
                let name = "\(dtype.name)_\(start)"
                g.constants[name] = t
                expected[name] = bits
            }
        }
        var lines: [String] = []
        for line in IRPrinter(constantDataLimit: nil).print(g).split(separator: "\n") where line.hasPrefix("  const ") {
            let name = String(line.dropFirst("  const %".count).prefix { $0 != ":" })
            guard let bits = expected[name], let equals = line.range(of: " = [") else { continue }  // hex: a NaN payload
            let literals = line[equals.upperBound...].dropLast().split(separator: ",")
            XCTAssertEqual(literals.count, 16, name)
            for (literal, b) in zip(literals, bits) {
                let text = literal.trimmingCharacters(in: .whitespaces)
                if text != "nan" { lines.append("\(name.prefix { $0 != "_" }) \(text) \(String(b, radix: 16))") }
            }
        }
        XCTAssertGreaterThan(lines.count, 2 * 63_000 + 2 * 250)
        XCTAssertEqual(lines.filter { $0.hasPrefix("f8e4m3 ") }.count, 254, "every E4M3 code but the two NaNs")
        XCTAssertEqual(lines.filter { $0.hasPrefix("f8e5m2 ") }.count, 256 - 6, "every E5M2 code but the six NaNs")
        let result = try runPython(script: checker, stdin: lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "checked \(lines.count)\n")
    }
}
