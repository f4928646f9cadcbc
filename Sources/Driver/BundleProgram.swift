// A compiled bundle as the commands that execute or profile it read it: its sections, its
// program decoded from DESC and INST, and its metadata decoded into the fields they need.
import Bundle
import Foundation
import ISA
import Simulator

enum BundleProgram {
    /// The bundle at `path`, its program, and its metadata as `Metadata`; errors name the
    /// file and the section.
    static func load<Metadata: Decodable>(path: String, as type: Metadata.Type) throws -> (BundleFile, Program, Metadata) {
        try load(try BundleReader.read(path: path), path: path, as: type)
    }

    /// As above, for a bundle already read (`path` names it in errors).
    static func load<Metadata: Decodable>(_ bundle: BundleFile, path: String, as type: Metadata.Type) throws -> (
        BundleFile, Program, Metadata
    ) {
        guard let desc = bundle[.descriptors], let inst = bundle[.instructions] else { throw noProgram(path) }
        let (program, meta) = try desc.withUnsafeBytes { d in
            try inst.withUnsafeBytes { i in try decode(bundle, descriptors: d, instructions: i, path: path, as: type) }
        }
        return (bundle, program, meta)
    }

    /// As above, from the sections where they lie (`BundleReader.withSections`).
    static func load<Metadata: Decodable>(
        _ bundle: BundleFile, sections: [SectionKind: UnsafeRawBufferPointer], path: String, as type: Metadata.Type
    ) throws -> (Program, Metadata) {
        guard let desc = sections[.descriptors], let inst = sections[.instructions] else { throw noProgram(path) }
        return try decode(bundle, descriptors: desc, instructions: inst, path: path, as: type)
    }

    /// The program's sections, DESC and INST, as every bundle stores them: deflated, for
    /// their repeated fields compress several times over (the ResNet-50-sized model's 24 MB
    /// to 4 MB).
    static func sections(_ program: Program) -> [BundleSection] {
        [
            BundleSection(.descriptors, program.encodedDescriptors(), encoding: .zlib),
            BundleSection(.instructions, program.encodedInstructions(), encoding: .zlib),
        ]
    }

    /// A simulator's or the cycle model's error as the command's: naming the node the failing
    /// instruction was lowered from, when the layer table says.
    static func failure(_ error: SimulatorError, layers: [BundleProfile.LoweredLayerInfo]?, bundlePath: String) -> DriverError {
        if let i = error.instruction, let layer = layers?.first(where: { ($0.first..<($0.first + $0.count)).contains(i) }) {
            return DriverError(file: bundlePath, "node \(layer.op) \"\(layer.name)\": \(error)")
        }
        return DriverError(file: bundlePath, "\(error)")
    }

    private static func noProgram(_ path: String) -> DriverError {
        DriverError(file: path, "the bundle holds no program (sections DESC and INST)")
    }

    private static func decode<Metadata: Decodable>(
        _ bundle: BundleFile, descriptors: UnsafeRawBufferPointer, instructions: UnsafeRawBufferPointer, path: String,
        as: Metadata.Type
    ) throws -> (Program, Metadata) {
        let program: Program
        do { program = try Program(descriptors: descriptors, instructions: instructions) } catch let e as ISAError {
            throw DriverError(file: path, "section INST: \(e)")
        }
        let meta: Metadata
        do {
            meta = try JSONDecoder().decode(Metadata.self, from: JSONValue.object(bundle.metadata).canonicalText ?? Data())
        } catch let e as DecodingError {
            throw DriverError(file: path, "section META: \(describe(e))")
        } catch {
            throw DriverError(file: path, "section META: not the metadata of a compiled model (\(error))")
        }
        return (program, meta)
    }

    /// A decoding error as the field it is about and what is wrong with it.
    private static func describe(_ e: DecodingError) -> String {
        func field(_ path: [CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch e {
        case .dataCorrupted(let c) where !c.codingPath.isEmpty: return c.debugDescription
        case .keyNotFound(let key, let c): return "\(field(c.codingPath + [key])) is missing"
        case .typeMismatch(let type, let c): return "\(field(c.codingPath)) is not of type \(type)"
        case .valueNotFound(_, let c): return "\(field(c.codingPath)) is null"
        default: return "not the metadata of a compiled model (\(e))"
        }
    }
}
