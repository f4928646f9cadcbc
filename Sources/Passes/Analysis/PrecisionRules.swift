// User rules for automatic precision: by layer-name pattern, which candidates a layer may
// take ("the first and last layers at least fp8", "no 2:4 in the attention projections").
// Read from a JSON file:
//
//   { "rules": [
//       { "layers": "conv1", "min": "fp8" },
//       { "layers": "fc*", "precision": "fp16" },
//       { "layers": "*attn*", "sparsity": "dense" } ] }
//
// Every rule matching a layer applies (their intersection). A rule that matches no layer,
// or leaves a layer nothing to choose, is an error naming it.

import Formats
import Foundation

public struct PrecisionRule: Sendable, Equatable, Decodable {
    /// A shell-style pattern (`*`, `?`, `[...]`) matched against the layer's node name and
    /// its output name.
    public var layers: String
    /// Exactly this candidate: "fp16", "fp8", "nvfp4", each optionally "+2:4".
    public var precision: String?
    /// At least this many bits: fp16 > fp8 > nvfp4.
    public var min: String?
    /// "dense" or "2:4".
    public var sparsity: String?

    private enum Key: String, CodingKey, CaseIterable { case layers, precision, min, sparsity }

    public init(layers: String, precision: String? = nil, min: String? = nil, sparsity: String? = nil) {
        self.layers = layers
        self.precision = precision
        self.min = min
        self.sparsity = sparsity
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for key in c.allKeys where Key(rawValue: key.stringValue) == nil {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c,
                debugDescription:
                    "unknown field \"\(key.stringValue)\" (fields: \(Key.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        layers = try c.decode(String.self, forKey: AnyKey("layers"))
        precision = try c.decodeIfPresent(String.self, forKey: AnyKey("precision"))
        min = try c.decodeIfPresent(String.self, forKey: AnyKey("min"))
        sparsity = try c.decodeIfPresent(String.self, forKey: AnyKey("sparsity"))
    }

    /// True when `candidate` satisfies the rule.
    func permits(_ candidate: LayerCandidate) -> Bool {
        if let precision, LayerCandidate(precision) != candidate { return false }
        if let min, let floor = PrecisionFormat(rawValue: min), Self.bits(candidate.format) < Self.bits(floor) { return false }
        if let sparsity, (sparsity == "2:4") != candidate.sparse { return false }
        return true
    }

    /// The rule's own mistakes: unknown precisions or sparsity.
    func validate() throws {
        if let precision, LayerCandidate(precision) == nil || precision.hasPrefix("fp32") {
            throw PrecisionRuleError("\"precision\": \"\(precision)\" is not one of fp16, fp8, nvfp4 (optionally +2:4)")
        }
        if let min, ![.fp16, .fp8, .nvfp4].contains(PrecisionFormat(rawValue: min)) {
            throw PrecisionRuleError("\"min\": \"\(min)\" is not one of fp16, fp8, nvfp4")
        }
        if let sparsity, sparsity != "dense" && sparsity != "2:4" {
            throw PrecisionRuleError("\"sparsity\": \"\(sparsity)\" is neither dense nor 2:4")
        }
        if let precision, let candidate = LayerCandidate(precision), let min, let floor = PrecisionFormat(rawValue: min),
            Self.bits(candidate.format) < Self.bits(floor)
        {
            throw PrecisionRuleError("\"precision\": \"\(precision)\" is below its own \"min\": \"\(min)\"")
        }
        if let precision, let candidate = LayerCandidate(precision), let sparsity, (sparsity == "2:4") != candidate.sparse {
            throw PrecisionRuleError("\"precision\": \"\(precision)\" contradicts its own \"sparsity\": \"\(sparsity)\"")
        }
    }

    func matches(_ layer: LayerSensitivity) -> Bool {
        fnmatch(layers, layer.name, 0) == 0 || fnmatch(layers, layer.layer, 0) == 0
    }

    private static func bits(_ format: PrecisionFormat) -> Int {
        switch format {
        case .nvfp4: return 4
        case .fp8: return 8
        default: return 16
        }
    }
}

public struct PrecisionRuleError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

public struct PrecisionRules: Sendable, Equatable, Decodable {
    public var rules: [PrecisionRule]

    public init(rules: [PrecisionRule]) { self.rules = rules }

    private enum Keys: String, CodingKey { case rules }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for key in c.allKeys where key.stringValue != Keys.rules.rawValue {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "unknown field \"\(key.stringValue)\" (the file holds \"rules\" alone)")
        }
        rules = try decoder.container(keyedBy: Keys.self).decode([PrecisionRule].self, forKey: .rules)
    }

    /// Parses the JSON form; errors say which rule and field is wrong.
    public static func parse(_ data: Data) throws -> PrecisionRules {
        let parsed: PrecisionRules
        do {
            parsed = try JSONDecoder().decode(PrecisionRules.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let path = context.codingPath.compactMap { $0.intValue.map { "rule \($0 + 1)" } }
            throw PrecisionRuleError((path.isEmpty ? "" : path.joined() + ": ") + "missing field \"\(key.stringValue)\"")
        } catch let DecodingError.dataCorrupted(context), let DecodingError.typeMismatch(_, context),
            let DecodingError.valueNotFound(_, context)
        {
            let path = context.codingPath.dropFirst().map { $0.intValue.map { "rule \($0 + 1)" } ?? "\"\($0.stringValue)\"" }
            guard !path.isEmpty else { throw PrecisionRuleError("not a rules file: \(context.debugDescription)") }
            throw PrecisionRuleError(path.joined(separator: ", ") + ": " + context.debugDescription)
        }
        for (i, rule) in parsed.rules.enumerated() {
            do { try rule.validate() } catch let e as PrecisionRuleError { throw PrecisionRuleError("rule \(i + 1): \(e)") }
        }
        return parsed
    }

    /// The layers a rule may name, for the error of one that names none: node and output as
    /// compiled (BatchNormalization folded and activations fused in, so a Conv followed by
    /// a Relu writes the Relu's output), the first eight.
    static func listing(_ layers: [LayerSensitivity]) -> String {
        guard !layers.isEmpty else { return "" }
        let shown = layers.prefix(8).map { $0.name.isEmpty || $0.name == $0.layer ? $0.layer : "\($0.name) (\($0.layer))" }
        let more = layers.count > 8 ? ", and \(layers.count - 8) more" : ""
        return "; the layers by node (output), as compiled with BatchNormalization folded and activations fused: "
            + shown.joined(separator: ", ") + more
    }

    /// For each layer a rule matches, the candidates it may take (fp16 dense and the
    /// analysed ones, filtered by every matching rule).
    public func allowed(_ layers: [LayerSensitivity]) throws -> [String: Set<LayerCandidate>] {
        var result: [String: Set<LayerCandidate>] = [:]
        for (i, rule) in rules.enumerated() {
            let matched = layers.filter(rule.matches)
            guard !matched.isEmpty else {
                throw PrecisionRuleError("rule \(i + 1) (\"\(rule.layers)\") matches no layer" + Self.listing(layers))
            }
            for l in matched {
                let current = result[l.layer] ?? Set([LayerCandidate(.fp16)] + l.candidates.map(\.candidate))
                let kept = current.filter(rule.permits)
                guard !kept.isEmpty else {
                    let why = l.canPrune ? "" : " (its reduction length is not a multiple of 4, so it cannot be 2:4)"
                    throw PrecisionRuleError(
                        "rule \(i + 1) (\"\(rule.layers)\") leaves layer \(l.displayName) no candidate\(why)")
                }
                result[l.layer] = kept
            }
        }
        return result
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
