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
    public func encodedDescriptors() -> [UInt8] { descriptors.flatMap { $0.encoded() } }

    /// The instruction section: 16 bytes per instruction.
    public func encodedInstructions() -> [UInt8] { instructions.flatMap { $0.encoded() } }

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
        let descriptors = try Self.decodeInHalves(count: d.count / TensorDescriptor.size) { k in
            do {
                return try TensorDescriptor.decode(UnsafeRawBufferPointer(rebasing: d[(k * TensorDescriptor.size)...]))
            } catch let e as ISAError {
                throw ISAError("descriptor d\(k): \(e)")
            }
        }
        // Each instruction as two little-endian words, read straight from the section; a long
        // stream in two halves on two threads (the loop written out, not through
        // `decodeInHalves`'s closure: a call per instruction would double its time).
        let count = i.count / InstructionSet.width, parts = count >= 1 << 16 ? 2 : 1
        var failures = [ISAError?](repeating: nil, count: parts)
        // Which descriptors are codes (u8), looked up without copying a descriptor.
        let isCodes = descriptors.map { $0.element == .u8 }
        let instructions = try DecodeRule.all.withUnsafeBufferPointer { rules in
            try isCodes.withUnsafeBufferPointer { codes in
                try failures.withUnsafeMutableBufferPointer { failures in
                    try [Instruction](unsafeUninitializedCapacity: count) { out, initialized in
                        let shared = InstructionHalves(
                            raw: i, rules: rules, codes: codes, out: out, failures: failures)
                        DispatchQueue.concurrentPerform(iterations: parts) { part in
                            for k in (part * count / parts)..<((part + 1) * count / parts) {
                                do {
                                    let instruction = try Instruction(
                                        low: UInt64(
                                            littleEndian: shared.raw.loadUnaligned(fromByteOffset: 16 * k, as: UInt64.self)),
                                        high: UInt64(
                                            littleEndian: shared.raw.loadUnaligned(fromByteOffset: 16 * k + 8, as: UInt64.self)),
                                        descriptors: shared.codes.count, rules: shared.rules)
                                    if let codes = instruction.mayReadCodes, codes < shared.codes.count, shared.codes[codes] {
                                        try Self.checkCodedScales(instruction, descriptors)
                                    }
                                    (shared.out.baseAddress! + k).initialize(to: instruction)
                                } catch {
                                    shared.failures[part] = ISAError("instruction \(k): \(error)")
                                    return
                                }
                            }
                        }
                        // Instructions are plain words: the initialized ones need no cleanup.
                        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
                        initialized = count
                    }
                }
            }
        }
        self.init(descriptors: descriptors, instructions: instructions)
    }

    /// `[decode(0), decode(1), ...]` for `count` elements (descriptors: each costs far more
    /// than the call): a long table in two halves on two threads, each writing its own part
    /// of the array. The error is the first failing element's, whichever half it is in.
    private static func decodeInHalves<T>(count: Int, _ decode: (Int) throws -> T) throws -> [T] {
        let parts = count >= 1 << 14 ? 2 : 1
        var failures = [Error?](repeating: nil, count: parts), done = [Int](repeating: 0, count: parts)
        return try withoutActuallyEscaping(decode) { decode in
            try failures.withUnsafeMutableBufferPointer { failures in
                try done.withUnsafeMutableBufferPointer { done in
                    try [T](unsafeUninitializedCapacity: count) { out, initialized in
                        let shared = DecodingHalves(out: out, failures: failures, done: done, decode: decode)
                        @Sendable func first(_ part: Int) -> Int { part * count / parts }
                        DispatchQueue.concurrentPerform(iterations: parts) { part in
                            for k in first(part)..<first(part + 1) {
                                do {
                                    (shared.out.baseAddress! + k).initialize(to: try shared.decode(k))
                                    shared.done[part] += 1
                                } catch {
                                    shared.failures[part] = error
                                    return
                                }
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
            guard let v = f.parse(text) else { throw ISAError("\(mnemonic): \"\(text)\" is not a value of field \(f.name)") }
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

/// What the threads of `Program.decodeInHalves` share: each writes only its own part of
/// `out` and its own element of `failures` and `done`.
private struct DecodingHalves<T>: @unchecked Sendable {
    let out: UnsafeMutableBufferPointer<T>
    let failures: UnsafeMutableBufferPointer<Error?>
    let done: UnsafeMutableBufferPointer<Int>
    let decode: (Int) throws -> T
}

/// What the threads decoding an instruction stream share: each writes only its own half of
/// `out` and its own element of `failures`.
private struct InstructionHalves: @unchecked Sendable {
    let raw: UnsafeRawBufferPointer
    let rules: UnsafeBufferPointer<DecodeRule>
    /// Per descriptor: whether it holds codes.
    let codes: UnsafeBufferPointer<Bool>
    let out: UnsafeMutableBufferPointer<Instruction>
    let failures: UnsafeMutableBufferPointer<ISAError?>
}
