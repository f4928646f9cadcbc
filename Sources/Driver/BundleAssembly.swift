// `npucc disasm` and `npucc asm`: a bundle's program as assembly text, and assembly text
// put back into a bundle. Disassembling and assembling again gives the same bytes.
import Bundle
import Foundation
import ISA

public enum BundleAssembly {
    /// The program of the bundle at `path`, as assembly.
    public static func disassemble(path: String) throws -> String {
        let bundle = try BundleReader.read(path: path)
        guard let desc = bundle[.descriptors], let inst = bundle[.instructions] else {
            throw DriverError(file: path, "the bundle holds no program (sections DESC and INST)")
        }
        do {
            return try Program(descriptors: desc, instructions: inst).assembly()
        } catch let e as ISAError {
            throw DriverError(file: path, "section INST: \(e)")
        }
    }

    /// `bundlePath` with its program replaced by the assembly at `sourcePath`, written to
    /// `outputPath` (atomically).
    public static func assemble(sourcePath: String, into bundlePath: String, outputPath: String) throws {
        let text: String
        do { text = try String(contentsOfFile: sourcePath, encoding: .utf8) } catch {
            throw DriverError(file: sourcePath, "cannot read the assembly")
        }
        let program: Program
        do { program = try Program(assembly: text) } catch let e as ISAError {
            throw DriverError(file: sourcePath, "\(e)")
        }
        let bundle = try BundleReader.read(path: bundlePath)
        var metadata = bundle.metadata
        if case .object(var p)? = metadata["program"] {
            p["descriptors"] = .int(Int64(program.descriptors.count))
            p["instructions"] = .int(Int64(program.instructions.count))
            metadata["program"] = .object(p)
        }
        var sections = bundle.entries.filter { $0.kind != .metadata && $0.kind != .descriptors && $0.kind != .instructions }
            .map { BundleSection($0.kind, bundle[$0.kind] ?? [], alignment: $0.alignment, encoding: $0.encoding) }
        sections += BundleProgram.sections(program)
        try BundleWriter(metadata: .object(metadata), sections: sections).write(to: URL(fileURLWithPath: outputPath))
    }
}
