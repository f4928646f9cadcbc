// `--input-shape NAME=1,3,320,320`: fixing symbolic input dimensions from the CLI.
import Foundation

/// Parses `NAME=d0,d1,...` options into a map; the name is everything before the last `=`.
public func parseInputShapes(_ specs: [String]) throws -> [String: [Int]] {
    var shapes: [String: [Int]] = [:]
    for spec in specs {
        guard let eq = spec.lastIndex(of: "="), eq != spec.startIndex else {
            throw DriverError(file: "--input-shape", "\"\(spec)\" is not of the form NAME=d0,d1,...")
        }
        let name = String(spec[..<eq])
        let dimsText = spec[spec.index(after: eq)...]
        let dims =
            dimsText.isEmpty
            ? []
            : dimsText.split(separator: ",", omittingEmptySubsequences: false).map {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
        guard dims.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw DriverError(file: "--input-shape", "\"\(spec)\": dimensions must be positive integers")
        }
        // An empty tensor has nothing to compute: an extent of 0 is refused, saying where.
        if let axis = dims.firstIndex(of: 0) {
            throw DriverError(
                file: "--input-shape",
                "\"\(spec)\": extent 0 at axis \(axis): an empty input (such as a decoder's key-value cache before its first step) is not supported; give it at least 1, or export the step without it"
            )
        }
        // Far beyond any input a model takes, and within 64-bit byte counts.
        let elements = dims.reduce((1, false)) { p, d in
            let (v, overflow) = p.0.multipliedReportingOverflow(by: d!)
            return (v, p.1 || overflow || v > maximumInputElements)
        }
        guard !elements.1 else {
            throw DriverError(file: "--input-shape", "\"\(spec)\": more than \(maximumInputElements) elements")
        }
        guard shapes[name] == nil else { throw DriverError(file: "--input-shape", "\"\(name)\" is given twice") }
        shapes[name] = dims.map { $0! }
    }
    return shapes
}

/// The most elements `--input-shape` gives one input: 2^36 (256 GiB of float32).
public let maximumInputElements = 1 << 36
