// The target description: everything the backend knows about the NPU, read from a JSON
// file (format in schemas/target.md, schema in schemas/target.schema.json).
import Foundation

/// The NPU as data: compute, memories, data movement, vector unit and mode costs.
/// A description is only handed out validated: `load(path:)`, `decode(_:file:)` and
/// `default` refuse unknown, missing and inconsistent fields naming the file and field.
public struct TargetDescription: Encodable, Equatable, Sendable {
    /// The version of the file format this npucc reads.
    public static let formatVersion = 1

    /// The file format's version (`formatVersion`).
    public var version: Int
    /// A short name, e.g. `npu-seed`.
    public var name: String
    /// What the target is, for people; optional.
    public var description: String?
    /// Clock in Hz; every cycle count in the file is of this clock.
    public var clockHz: Int
    public var compute: Compute
    /// Memory levels from the tiles outwards: the first is each tile's own memory, the last
    /// the global backing memory that holds the weights.
    public var memories: [MemoryLevel]
    public var dma: DMAQueues
    public var vector: VectorUnit
    public var modeCosts: ModeCosts
    public var conversionCosts: ConversionCosts
    public var alignment: Alignment

    public init(
        version: Int = TargetDescription.formatVersion, name: String, description: String? = nil, clockHz: Int,
        compute: Compute, memories: [MemoryLevel], dma: DMAQueues, vector: VectorUnit, modeCosts: ModeCosts,
        conversionCosts: ConversionCosts, alignment: Alignment
    ) {
        self.version = version
        self.name = name
        self.description = description
        self.clockHz = clockHz
        self.compute = compute
        self.memories = memories
        self.dma = dma
        self.vector = vector
        self.modeCosts = modeCosts
        self.conversionCosts = conversionCosts
        self.alignment = alignment
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, name, description, clockHz = "clock_hz", compute, memories, dma, vector
        case modeCosts = "mode_costs", conversionCosts = "conversion_costs", alignment
    }
}

extension TargetDescription: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(CodingKeys.self)
        let version = try c.integer(.version)
        guard version == Self.formatVersion else {
            throw FieldError(
                c.codingPath + [CodingKeys.version],
                "format version \(version) is not supported (this npucc reads version \(Self.formatVersion))")
        }
        // Optional, but a string when present (the schema's type): null is no description.
        if c.contains(.description), try c.decodeNil(forKey: .description) {
            throw FieldError(c.codingPath + [CodingKeys.description], "must be a string, not null")
        }
        self.init(
            version: version, name: try c.decode(String.self, forKey: .name),
            description: try c.decodeIfPresent(String.self, forKey: .description),
            clockHz: try c.integer(.clockHz), compute: try c.decode(Compute.self, forKey: .compute),
            memories: try c.decode([MemoryLevel].self, forKey: .memories),
            dma: try c.decode(DMAQueues.self, forKey: .dma), vector: try c.decode(VectorUnit.self, forKey: .vector),
            modeCosts: try c.decode(ModeCosts.self, forKey: .modeCosts),
            conversionCosts: try c.decode(ConversionCosts.self, forKey: .conversionCosts),
            alignment: try c.decode(Alignment.self, forKey: .alignment))
    }
}

extension TargetDescription {
    /// The name the built-in target goes by in messages.
    public static let defaultFileName = "npu-seed.json"

    /// The target file at `path`, decoded and validated. Throws `TargetError`.
    public static func load(path: String) throws -> TargetDescription {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
            throw TargetError(file: path, field: "", reason)
        }
        return try decode(data, file: path)
    }

    /// A target file's bytes, decoded and validated; `file` names it in errors.
    public static func decode(_ data: Data, file: String) throws -> TargetDescription {
        do {
            try checkSyntax(data)
            let target = try JSONDecoder().decode(TargetDescription.self, from: data)
            try target.validate()
            return target
        } catch let e as FieldError {
            throw TargetError(file: file, field: e.field, e.message)
        } catch let e as DecodingError {
            let f = fieldError(e)
            throw TargetError(file: file, field: f.field, f.message)
        }
    }

    /// Throws "not valid JSON" with the line and column of the first syntax error.
    private static func checkSyntax(_ data: Data) throws {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
            guard let match = detail.firstMatch(of: /around (?:character|line \d+, column) (\d+)/),
                let offset = Int(match.1), offset <= data.count
            else { throw FieldError("", "not valid JSON: \(detail)") }
            let before = data.prefix(offset)
            let line = before.filter { $0 == UInt8(ascii: "\n") }.count + 1
            let column = offset - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
            throw FieldError("", "not valid JSON: syntax error at line \(line), column \(column)")
        }
    }

    /// The NPU of the seed chapter (`npu-seed.json`, a resource of this module).
    public static var `default`: TargetDescription {
        get throws {
            guard let url = Bundle.module.url(forResource: "npu-seed", withExtension: "json") else {
                throw TargetError(
                    file: defaultFileName, field: "",
                    "the built-in target is missing from \(Bundle.module.bundlePath)")
            }
            let data: Data
            do { data = try Data(contentsOf: url) } catch { throw TargetError(file: url.path, field: "", "cannot be read") }
            return try decode(data, file: defaultFileName)
        }
    }
}
