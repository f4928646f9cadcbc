// The instruction set's one table: its invariants, every instruction through encode,
// decode, disassembly and assembly unchanged (random and extreme field values), the
// refusals of the decoder and the assembler, and schemas/isa.md in step with the table.
import Foundation
import ISA
import TestSupport
import XCTest

final class InstructionSetTests: XCTestCase {
    func testTheTableIsConsistent() {
        XCTAssertEqual(Set(InstructionSet.table.map(\.opcode)).count, InstructionSet.table.count)
        XCTAssertEqual(Set(InstructionSet.table.map(\.mnemonic)).count, InstructionSet.table.count)
        for s in InstructionSet.table {
            XCTAssertLessThanOrEqual(s.fieldBits, 8 * InstructionSet.width - 8, s.mnemonic)
            XCTAssertEqual(Set(s.fields.map(\.name)).count, s.fields.count, s.mnemonic)
        }
    }

    private func randomValue(_ f: FieldSpec, _ rng: inout SeededRandom) -> UInt64 {
        switch f.kind {
        case .choice(let names): return UInt64.random(in: 0..<UInt64(names.count), using: &rng)
        case .float32:
            let bits = UInt32.random(in: .min ... .max, using: &rng)
            return UInt64(Float(bitPattern: bits).isNaN ? 0x7FC0_0001 : bits)
        case .descriptor: return UInt64.random(in: 0..<8, using: &rng)
        default: return UInt64.random(in: 0...f.maximumValue, using: &rng)
        }
    }

    /// Every instruction with random fields, and with all fields at their extremes.
    private func programs() throws -> [Program] {
        var rng = SeededRandom(seed: 7)
        var descriptors: [TensorDescriptor] = []
        for k in 0..<8 {
            let onTile = k % 2 == 0
            let space: MemorySpace = onTile ? .sram : .dram
            descriptors.append(
                try TensorDescriptor(
                    space, .f32, cluster: onTile ? 3 : 0, tile: onTile ? 15 : 0,
                    address: UInt64(k * 4096), dims: [1, 20, 64]))
        }
        var out: [Program] = []
        for round in 0..<50 {
            var program = Program(descriptors: descriptors)
            for s in InstructionSet.table {
                var fields: [String: UInt64] = [:]
                for f in s.fields {
                    switch round {
                    case 0: fields[f.name] = 0
                    case 1: fields[f.name] = f.kind == .descriptor ? 7 : (f.kind == .float32 ? 0xFF80_0000 : f.largestValue)
                    default: fields[f.name] = randomValue(f, &rng)
                    }
                }
                program.instructions.append(try Instruction(s.mnemonic, fields))
            }
            out.append(program)
        }
        return out
    }

    func testEveryInstructionRoundTripsThroughBytesAndAssembly() throws {
        for program in try programs() {
            let bytes = program.encodedInstructions(), table = program.encodedDescriptors()
            XCTAssertEqual(bytes.count, 16 * InstructionSet.table.count)
            // The sections are each instruction's and descriptor's bytes end to end.
            XCTAssertEqual(bytes, program.instructions.flatMap { $0.encoded() })
            XCTAssertEqual(table, program.descriptors.flatMap { $0.encoded() })
            let decoded = try Program(descriptors: table, instructions: bytes)
            XCTAssertEqual(decoded, program)
            let text = program.assembly()
            let assembled = try Program(assembly: text)
            XCTAssertEqual(assembled, program, text)
            XCTAssertEqual(assembled.encodedInstructions(), bytes)
            XCTAssertEqual(assembled.encodedDescriptors(), table)
        }
    }

    func testFieldsSitWhereTheTableSays() throws {
        // mma: out bits 8-31, act 32-55, wgt 56-79, scl 80-103, wfmt 104-105, afmt 106-107, sparse 108, accumulate 109.
        let mma = try Instruction(
            "mma",
            [
                "out": 1, "act": 2, "wgt": 3, "scl": 4, "wfmt": 2, "afmt": 1, "sparse": 1,
                "accumulate": 1,
            ])
        XCTAssertEqual(mma.encoded(), [0x20, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 0b0011_0110, 0, 0])
        let text = Program(instructions: [mma]).assembly()
        XCTAssertTrue(text.contains("mma out=d1, act=d2, wgt=d3, scl=d4, wfmt=nvfp4, afmt=fp8, sparse=1, accumulate=1"), text)
        // gather: dst bits 8-31, src 32-55, idx 56-79, on the DMA queue.
        let gather = try Instruction("gather", ["dst": 0x0A_0B0C, "src": 2, "idx": 0xFF_FFFF])
        XCTAssertEqual(gather.spec.queue, .dma)
        XCTAssertEqual(gather.encoded(), [0x12, 0x0C, 0x0B, 0x0A, 2, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(
            Program(instructions: [try Instruction("gather", ["dst": 1, "src": 2, "idx": 3])]).assembly(),
            ".descriptors\n.code\ngather dst=d1, src=d2, idx=d3\n")
        var past = gather.encoded()
        past[10] = 1
        XCTAssertThrowsError(try Instruction(decoding: past)) {
            XCTAssertEqual("\($0)", "gather: bit 80 is past its last field and must be 0")
        }
    }

    func testTheDecoderRefusesWhatNoInstructionIs() throws {
        func refused(_ bytes: [UInt8], _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try Instruction(decoding: bytes), line: line) { XCTAssertEqual("\($0)", message, line: line) }
        }
        refused([0xEE] + [UInt8](repeating: 0, count: 15), "unknown opcode 0xee")
        refused([0x01, 1] + [UInt8](repeating: 0, count: 14), "halt: bit 8 is past its last field and must be 0")
        // quant's fmt (bits 56-57) = 3 is fp32's index, legal; signal's `after` (bits 8-9) = 3 is not.
        refused([0x02, 3] + [UInt8](repeating: 0, count: 14), "signal: 3 does not fit field \"after\" (2 bits)")
        refused([0x00], "an instruction is 16 bytes, not 1")
        let halt = try Instruction("halt").encoded()
        let dma = try Instruction("dma", ["dst": 0, "src": 5]).encoded()
        let table = try TensorDescriptor(.dram, .f32, address: 0, dims: [4]).encoded()
        XCTAssertThrowsError(try Program(descriptors: table, instructions: halt + dma)) {
            XCTAssertEqual("\($0)", "instruction 1: field src names d5, the table has 1 descriptors")
        }
        XCTAssertThrowsError(try Program(descriptors: table, instructions: halt + [0])) {
            XCTAssertEqual("\($0)", "the instruction stream is 17 bytes, not a multiple of 16")
        }
        // A stream long enough to decode in two halves: every instruction in its place, and
        // the error the first bad one's, whichever half it is in.
        let nop = try Instruction("nop").encoded(), count = 100_000
        var stream = [UInt8]()
        for k in 0..<count {
            stream += k % 3 == 0 ? halt : k % 3 == 1 ? nop : try Instruction("dma", ["dst": 0, "src": 0]).encoded()
        }
        let long = try Program(descriptors: table, instructions: stream)
        XCTAssertEqual(long.instructions.count, count)
        XCTAssertEqual(long.encodedInstructions(), stream)
        for bad in [[count - 2], [70_000, count - 1], [3, 90_000]] {
            var damaged = stream
            for k in bad { damaged.replaceSubrange((16 * k)..<(16 * k + 16), with: dma) }
            XCTAssertThrowsError(try Program(descriptors: table, instructions: damaged)) {
                XCTAssertEqual("\($0)", "instruction \(bad[0]): field src names d5, the table has 1 descriptors")
            }
        }
    }

    func testTheDecoderAcceptsExactlyWhatTheTableAllows() throws {
        // Random words for every opcode, fields often out of range: the decoder accepts a
        // word exactly when every bit past the last field is 0, every choice names one of
        // its options and every descriptor field one of the table's 40 descriptors, and
        // refuses the first field in table order that does not.
        var rng = SeededRandom(seed: 11)
        let descriptors = 40
        let table = try (0..<descriptors).flatMap { _ in try TensorDescriptor(.dram, .f32, address: 0, dims: [1]).encoded() }
        for spec in InstructionSet.table {
            let end = spec.fieldStarts.last.map { $0 + spec.fields.last!.bits } ?? 8
            for _ in 0..<300 {
                var bytes = [spec.opcode] + (1..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
                // Mostly words whose unused bits are clear, so that the field checks run.
                if Int.random(in: 0..<4, using: &rng) > 0 {
                    for bit in end..<128 { bytes[bit / 8] &= ~(1 << UInt8(bit % 8)) }
                }
                let word = bytes.enumerated().reduce((UInt64(0), UInt64(0))) { w, b in
                    b.offset < 8
                        ? (w.0 | UInt64(b.element) << UInt64(8 * b.offset), w.1)
                        : (w.0, w.1 | UInt64(b.element) << UInt64(8 * (b.offset - 8)))
                }
                func field(_ k: Int) -> UInt64 {
                    (spec.fieldStarts[k]..<(spec.fieldStarts[k] + spec.fields[k].bits)).reduce(UInt64(0)) { v, bit in
                        let set = (bit < 64 ? word.0 >> UInt64(bit) : word.1 >> UInt64(bit - 64)) & 1
                        return v | set << UInt64(bit - spec.fieldStarts[k])
                    }
                }
                var expected: String?
                if let bit = (end..<128).first(where: { ($0 < 64 ? word.0 >> UInt64($0) : word.1 >> UInt64($0 - 64)) & 1 == 1 }) {
                    expected = "\(spec.mnemonic): bit \(bit) is past its last field and must be 0"
                } else if let k = spec.fields.indices.first(where: {
                    if case .choice(let names) = spec.fields[$0].kind { return field($0) >= names.count }
                    return false
                }) {
                    expected =
                        "\(spec.mnemonic): \(field(k)) does not fit field \"\(spec.fields[k].name)\" (\(spec.fields[k].bits) bits)"
                } else if let k = spec.fields.indices.first(where: {
                    spec.fields[$0].kind == .descriptor && field($0) >= descriptors
                }) {
                    expected = "field \(spec.fields[k].name) names d\(field(k)), the table has \(descriptors) descriptors"
                }
                // No descriptor of the table is coded (u8), so no operand takes scales.
                do {
                    _ = try Program(descriptors: table, instructions: bytes)
                    XCTAssertNil(expected, "\(spec.mnemonic) \(bytes)")
                } catch {
                    XCTAssertEqual("\(error)", "instruction 0: \(expected ?? "accepted")")
                }
            }
        }
    }

    func testDescriptorsRoundTripAndRefuseWhatTheyCannotSay() throws {
        let d = try TensorDescriptor(
            .sram, .f8e4m3, cluster: 2, tile: 7, address: 0x1F40, dims: [3, 20, 64], strides: [2560, 128, 1])
        XCTAssertEqual(d.text, "sram c2.t7 f8e4m3 @0x1f40 [3,20,64] [2560,128,1]")
        XCTAssertEqual(try TensorDescriptor(text: d.text), d)
        XCTAssertEqual(try TensorDescriptor(decoding: d.encoded()), d)
        XCTAssertEqual(try TensorDescriptor(text: "l2 c1 i32 @0x0 [] []").dims, [])
        XCTAssertThrowsError(try TensorDescriptor(.dram, .f32, cluster: 1, address: 0, dims: [1]))
        var bytes = d.encoded()
        bytes[6] = 1
        XCTAssertThrowsError(try TensorDescriptor(decoding: bytes)) {
            XCTAssertEqual("\($0)", "reserved bytes and unused dimensions must be 0")
        }
        bytes = d.encoded()
        bytes[2] = 7
        XCTAssertThrowsError(try TensorDescriptor(decoding: bytes)) { XCTAssertEqual("\($0)", "rank 7 is over 6") }
        XCTAssertThrowsError(try TensorDescriptor(text: "sram f32 @0x0 [1] [1]"))
        // A table long enough to decode in two halves: every descriptor in its place, and the
        // error the first bad one's, whichever half it is in.
        let count = 40_000
        let table = (0..<count).flatMap {
            (try? TensorDescriptor(.dram, .f32, address: UInt64(64 * $0), dims: [$0 % 7 + 1, 4], strides: [4, 1]))!.encoded()
        }
        let decoded = try Program(descriptors: table, instructions: [])
        XCTAssertEqual(decoded.descriptors.count, count)
        XCTAssertEqual(decoded.encodedDescriptors(), table)
        for bad in [[count - 3], [25_000, count - 1], [11, 30_000]] {
            var damaged = table
            for k in bad { damaged[64 * k + 2] = 7 }
            XCTAssertThrowsError(try Program(descriptors: damaged, instructions: [])) {
                XCTAssertEqual("\($0)", "descriptor d\(bad[0]): rank 7 is over 6")
            }
        }
    }

    func testTheAssemblerNamesTheLine() {
        func refused(_ text: String, _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try Program(assembly: text), line: line) { XCTAssertEqual("\($0)", message, line: line) }
        }
        refused(".code\nhalt\nfoo x=1\n", "line 3: unknown instruction \"foo\"")
        refused(".descriptors\nd0: dram f32 @0x0 [4] [1]\n.code\ndma dst=d0\n", "line 4: dma: field src is missing")
        refused(".descriptors\nd0: dram f32 @0x0 [4] [1]\n.code\ndma dst=d0, src=d1\n", "line 4: dma: d1 is not declared")
        refused(
            ".code\nsignal after=tensor, sem=s1\n",
            "line 2: signal: \"tensor\" is not a value of field after (one of dma, matrix, vector)")
        refused(
            ".descriptors\nd0: dram f32 @0x0 [4] [1]\n.code\nquant dst=d0, src=d0, fmt=fp8, amax=nan, scale=0\n",
            "line 4: quant: \"nan\" is not a value of field amax (a float32 as a decimal number or inf, or a NaN by its "
                + "bits as nan:0x7fc00000)")
        refused(".code\nhalt now=1\n", "line 2: halt has no field \"now\"")
        refused(".descriptors\nd1: dram f32 @0x0 [4] [1]\n", "line 2: expected \"d0: ...\" (descriptors are numbered in order)")
    }

    func testFieldsListedByNameEncodeAsTheNamedOnesDo() throws {
        let dma = try XCTUnwrap(InstructionSet.spec(mnemonic: "dma"))
        XCTAssertEqual(try Instruction(dma, ["src": 7, "dst": 3]), try Instruction("dma", ["dst": 3, "src": 7]))
        func refused(_ fields: KeyValuePairs<String, UInt64>, _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try Instruction(dma, fields), line: line) { XCTAssertEqual("\($0)", message, line: line) }
        }
        refused(["dst": 3], "dma: field \"src\" is missing")
        refused(["dst": 3, "src": 7, "dst": 4], "dma: field \"dst\" is given twice")
        refused(["dst": 3, "src": 7, "now": 1], "dma has no field \"now\"")
        refused(["dst": 3, "src": 1 << 40], "dma: 1099511627776 does not fit field \"src\" (24 bits)")
    }

    func testTheSpecificationShowsTheTable() throws {
        let spec = try String(contentsOf: packageRoot().appendingPathComponent("schemas/isa.md"), encoding: .utf8)
        XCTAssertTrue(
            spec.contains(InstructionSet.markdownTable()),
            "regenerate the encoding table in schemas/isa.md:\n" + InstructionSet.markdownTable())
        // The assembly example assembles, and disassembles to itself without its comment.
        let example = try XCTUnwrap(
            spec.components(separatedBy: "## Assembly\n\n```\n").dropFirst().first?
                .components(separatedBy: "```").first)
        let program = try Program(assembly: example)
        XCTAssertEqual(program.instructions.map(\.spec.mnemonic), ["dma", "vop", "halt"])
        XCTAssertEqual(program.assembly(), example.split(separator: "\n").dropFirst().joined(separator: "\n") + "\n")
    }
}

extension FieldSpec {
    var maximumValue: UInt64 { bits == 64 ? .max : (1 << UInt64(bits)) - 1 }
    var largestValue: UInt64 {
        if case .choice(let names) = kind { return UInt64(names.count - 1) }
        return maximumValue
    }
}
