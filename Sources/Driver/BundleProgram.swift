// A compiled bundle as the commands that execute or profile it read it: its sections, its
// program decoded from DESC and INST, and its metadata decoded into the fields they need.
import Bundle
import Foundation
import ISA

enum BundleProgram {
    /// The bundle at `path`, its program, and its metadata as `Metadata`; errors name the
    /// file and the section.
    static func load<Metadata: Decodable>(path: String, as type: Metadata.Type) throws -> (BundleFile, Program, Metadata) {
        try load(try BundleReader.read(path: path), path: path, as: type)
    }

    /// As above, for a bundle already read (`path` names it in errors).
    static func load<Metadata: Decodable>(_ bundle: BundleFile, path: String, as: Metadata.Type) throws -> (
        BundleFile, Program, Metadata
    ) {
        guard let desc = bundle[.descriptors], let inst = bundle[.instructions] else {
            throw DriverError(file: path, "the bundle holds no program (sections DESC and INST)")
        }
        let program: Program
        do { program = try Program(descriptors: desc, instructions: inst) } catch let e as ISAError {
            throw DriverError(file: path, "section INST: \(e)")
        }
        let meta: Metadata
        do {
            meta = try JSONDecoder().decode(Metadata.self, from: JSONValue.object(bundle.metadata).canonicalText ?? Data())
        } catch {
            throw DriverError(file: path, "section META: not the metadata of a compiled model (\(error))")
        }
        return (bundle, program, meta)
    }
}
