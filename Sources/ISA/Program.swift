// A program: the descriptor table and the instruction stream, in their binary form (two
// bundle sections) and their assembly form, each the exact image of the other.
//
//   ; comments run to the end of the line
//   .descriptors
//   d0: dram f32 @0x0 [1,64] [64,1]
//   d1: sram c0.t0 f32 @0x0 [1,64] [64,1]
//   .code
//   dma dst=d1, src=d0
//   halt
import Dispatch

public struct Program: Sendable, Equatable {
    public var descriptors: [TensorDescriptor]
    public var instructions: [Instruction]

    public init(descriptors: [TensorDescriptor] = [], instructions: [Instruction] = []) {
        self.descriptors = descriptors
        self.instructions = instructions
    }

    /// The descriptor table section: 64 bytes per descriptor.
    public func encodedDescriptors() -> [UInt8] {
        let size = TensorDescriptor.size
        return [UInt8](unsafeUninitializedCapacity: descriptors.count * size) { b, count in
            let raw = UnsafeMutableRawBufferPointer(b)
            for (k, d) in descriptors.enumerated() { d.encode(into: UnsafeMutableRawBufferPointer(rebasing: raw[(k * size)...])) }
            count = descriptors.count * size
        }
    }

    /// The instruction section: 16 bytes per instruction.
    public func encodedInstructions() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: instructions.count * InstructionSet.width) { b, count in
            let raw = UnsafeMutableRawBufferPointer(b)
            for (k, i) in instructions.enumerated() { i.encode(into: raw, at: k * InstructionSet.width) }
            count = instructions.count * InstructionSet.width
        }
    }

    /// Decodes both sections; errors name the descriptor or instruction index, and an
    /// instruction naming a descriptor the table does not have is refused.
    public init(descriptors d: [UInt8], instructions i: [UInt8]) throws {
        self = try d.withUnsafeBytes { d in try i.withUnsafeBytes { i in try Program(descriptors: d, instructions: i) } }
    }

    /// As above, from the two sections' bytes where they lie.
    public init(descriptors d: UnsafeRawBufferPointer, instructions i: UnsafeRawBufferPointer) throws {
        guard d.count % TensorDescriptor.size == 0 else {
            throw ISAError("the descriptor table is \(d.count) bytes, not a multiple of \(TensorDescriptor.size)")
        }
        guard i.count % InstructionSet.width == 0 else {
            throw ISAError("the instruction stream is \(i.count) bytes, not a multiple of \(InstructionSet.width)")
        }
        let descriptors = try Self.decodeInHalves(count: d.count / TensorDescriptor.size, halvingFrom: 1 << 14) {
            range, out, done in
            for k in range {
                do {
                    (out + k).initialize(
                        to: try TensorDescriptor.decode(UnsafeRawBufferPointer(rebasing: d[(k * TensorDescriptor.size)...])))
                } catch let e as ISAError {
                    throw ISAError("descriptor d\(k): \(e)")
                }
                done += 1
            }
        }
        // Each instruction as two little-endian words, read straight from the section; which
        // descriptors hold codes (u8) looked up in a table, not through a copy of each.
        let isCodes = descriptors.map { $0.element == .u8 }
        let instructions = try DecodeRule.all.withUnsafeBufferPointer { rules in
            try isCodes.withUnsafeBufferPointer { codes in
                try Self.decodeInHalves(count: i.count / InstructionSet.width, halvingFrom: 1 << 16) { range, out, done in
                    for k in range {
                        do {
                            let instruction = try Instruction(
                                low: UInt64(littleEndian: i.loadUnaligned(fromByteOffset: 16 * k, as: UInt64.self)),
                                high: UInt64(littleEndian: i.loadUnaligned(fromByteOffset: 16 * k + 8, as: UInt64.self)),
                                descriptors: codes.count, rules: rules)
                            if let c = instruction.mayReadCodes, c < codes.count, codes[c] {
                                try Self.checkCodedScales(instruction, descriptors)
                            }
                            (out + k).initialize(to: instruction)
                        } catch let e as ISAError {
                            throw ISAError("instruction \(k): \(e)")
                        }
                        done += 1
                    }
                }
            }
        }
        self.init(descriptors: descriptors, instructions: instructions)
    }

    /// An array of `count` elements that `decode` initializes range by range: `decode(range,
    /// out, &done)` initializes `out[k]` for k in `range`, in order, counting them in `done`.
    /// From `halvingFrom` elements on, the two halves on two threads (the loop over each is
    /// the caller's, so that no call is paid per element). The error is the first failing
    /// element's, whichever half it is in; the elements initialized are then released.
    private static func decodeInHalves<T>(
        count: Int, halvingFrom: Int, _ decode: (Range<Int>, UnsafeMutablePointer<T>, inout Int) throws -> Void
    ) throws -> [T] {
        let parts = count >= halvingFrom ? 2 : 1
        var failures = [Error?](repeating: nil, count: parts), done = [Int](repeating: 0, count: parts)
        return try withoutActuallyEscaping(decode) { decode in
            try failures.withUnsafeMutableBufferPointer { failures in
                try done.withUnsafeMutableBufferPointer { done in
                    try [T](unsafeUninitializedCapacity: count) { out, initialized in
                        let shared = DecodingHalves(out: out.baseAddress!, failures: failures, done: done, decode: decode)
                        @Sendable func first(_ part: Int) -> Int { part * count / parts }
                        DispatchQueue.concurrentPerform(iterations: parts) { part in
                            do { try shared.decode(first(part)..<first(part + 1), shared.out, &shared.done[part]) } catch {
                                shared.failures[part] = error
                            }
                        }
                        if let failure = failures.lazy.compactMap({ $0 }).first {
                            for part in 0..<parts { (out.baseAddress! + first(part)).deinitialize(count: done[part]) }
                            throw failure
                        }
                        initialized = count
                    }
                }
            }
        }
    }

    /// Refuses a coded operand whose scales' descriptor (the next one) the table lacks.
    private static func checkCodedScales(_ i: Instruction, _ descriptors: [TensorDescriptor]) throws {
        if let scales = i.codedScales(descriptors), scales >= descriptors.count {
            throw ISAError(
                "\(i.spec.mnemonic): coded d\(scales - 1) takes its scales from d\(scales), "
                    + "the table has \(descriptors.count) descriptors")
        }
    }

    /// The assembly text.
    public func assembly() -> String {
        var lines = [".descriptors"]
        for (k, d) in descriptors.enumerated() { lines.append("d\(k): \(d.text)") }
        lines.append(".code")
        for i in instructions {
            let fields = zip(i.spec.fields, i.values).map { "\($0.name)=\($0.text($1))" }
            lines.append(fields.isEmpty ? i.spec.mnemonic : i.spec.mnemonic + " " + fields.joined(separator: ", "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses the assembly text; errors name the line.
    public init(assembly: String) throws {
        var descriptors: [TensorDescriptor] = []
        var instructions: [Instruction] = []
        var section = ""
        for (n, raw) in assembly.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line =
                raw.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map {
                    $0.trimmingCharacters(in: " \t\r")
                } ?? ""
            guard !line.isEmpty else { continue }
            do {
                if line.hasPrefix(".") {
                    guard line == ".descriptors" || line == ".code" else { throw ISAError("unknown directive \(line)") }
                    section = line
                } else if section == ".descriptors" {
                    guard let colon = line.firstIndex(of: ":"), line.hasPrefix("d"),
                        Int(line[line.index(after: line.startIndex)..<colon]) == descriptors.count
                    else {
                        throw ISAError("expected \"d\(descriptors.count): ...\" (descriptors are numbered in order)")
                    }
                    descriptors.append(
                        try TensorDescriptor(text: String(line[line.index(after: colon)...]).trimmingCharacters(in: " ")))
                } else if section == ".code" {
                    let instruction = try Self.parseInstruction(line, descriptors: descriptors.count)
                    try Self.checkCodedScales(instruction, descriptors)
                    instructions.append(instruction)
                } else {
                    throw ISAError("text before .descriptors or .code")
                }
            } catch let e as ISAError {
                throw ISAError("line \(n + 1): \(e)")
            }
        }
        self.init(descriptors: descriptors, instructions: instructions)
    }

    private static func parseInstruction(_ line: String, descriptors: Int) throws -> Instruction {
        let mnemonic = String(line.prefix { $0 != " " })
        guard let spec = InstructionSet.spec(mnemonic: mnemonic) else { throw ISAError("unknown instruction \"\(mnemonic)\"") }
        let rest = line.dropFirst(mnemonic.count).trimmingCharacters(in: " ")
        var given: [String: String] = [:]
        for item in rest.isEmpty ? [] : rest.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: " ") }
            guard pair.count == 2 else { throw ISAError("expected field=value, found \"\(item)\"") }
            guard given[pair[0]] == nil else { throw ISAError("field \(pair[0]) given twice") }
            given[pair[0]] = pair[1]
        }
        var values: [UInt64] = []
        for f in spec.fields {
            guard let text = given.removeValue(forKey: f.name) else { throw ISAError("\(mnemonic): field \(f.name) is missing") }
            guard let v = f.parse(text) else {
                throw ISAError("\(mnemonic): \"\(text)\" is not a value of field \(f.name) (\(f.spelling))")
            }
            if f.kind == .descriptor && v >= UInt64(descriptors) { throw ISAError("\(mnemonic): d\(v) is not declared") }
            values.append(v)
        }
        if let extra = given.keys.sorted().first { throw ISAError("\(mnemonic) has no field \"\(extra)\"") }
        return try Instruction(spec, values)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String { self[...].trimmingCharacters(in: set) }
}

/// What the threads of `Program.decodeInHalves` share: each writes only its own half of
/// `out` and its own element of `failures` and `done`.
private struct DecodingHalves<T>: @unchecked Sendable {
    let out: UnsafeMutablePointer<T>
    let failures: UnsafeMutableBufferPointer<Error?>
    let done: UnsafeMutableBufferPointer<Int>
    let decode: (Range<Int>, UnsafeMutablePointer<T>, inout Int) throws -> Void
}
