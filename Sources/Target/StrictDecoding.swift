// Decoding that refuses what it does not know: unknown fields, non-integral counts and
// unknown enumeration values are errors naming the field, never silently dropped.

/// Any key of a JSON object, to list the keys a file really has.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// The object's fields keyed by `Keys`, after refusing any field that is not one of them
    /// (the first unknown one in name order, so the error does not depend on hashing).
    func strictContainer<Keys: CodingKey & CaseIterable>(_: Keys.Type) throws -> KeyedDecodingContainer<Keys> {
        let all = try container(keyedBy: AnyKey.self)
        let known = Keys.allCases.map(\.stringValue)
        let unknown = all.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
        if let first = unknown.first {
            throw FieldError(codingPath + [AnyKey(stringValue: first)],
                             "unknown field (expected \(known.joined(separator: ", ")))")
        }
        return try container(keyedBy: Keys.self)
    }
}

extension KeyedDecodingContainer {
    /// An integer field. Read as a JSON number first, so that a fraction (`16.5`) or a
    /// string is reported as "expected an integer" at the field rather than as bad JSON.
    func integer(_ key: Key) throws -> Int {
        let value: Double
        do {
            value = try decode(Double.self, forKey: key)
        } catch DecodingError.typeMismatch {
            throw FieldError(codingPath + [key], "expected an integer")
        }
        guard let n = Int(exactly: value) else {
            throw FieldError(codingPath + [key], "expected an integer (got \(value))")
        }
        return n
    }
}

/// A closed set of names spelled in the file as strings (`"tile"`, `"fp32"`).
protocol NamedChoice: RawRepresentable, CaseIterable, Codable where RawValue == String {}

extension NamedChoice {
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: name) else {
            let names = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw FieldError(decoder.codingPath, "unknown value \"\(name)\" (expected one of \(names))")
        }
        self = value
    }
}
