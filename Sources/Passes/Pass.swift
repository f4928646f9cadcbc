// What a pass is: a named graph transformation with a summary, run with a context and
// reporting what it did as named counters, and what the user should know as warnings.
import IR

/// One graph transformation. Its doc comment states what it requires, what it
/// guarantees and what it leaves alone.
public protocol Pass: Sendable {
    /// The stable kebab-case name pipelines and flags use.
    var tag: String { get }
    var summary: String { get }
    func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics
}

/// Named counters a pass reports ("folded": 12), and warnings for the user: things the
/// pass did that change what the model computes or how it will be compiled, each naming
/// the node ("DequantizeLinear \"w_dq\": int8 weight dequantized: ..."). The command
/// line prints each warning once, on stderr.
public struct PassStatistics: Sendable, CustomStringConvertible {
    public private(set) var counters: [(name: String, value: Int)] = []
    public private(set) var warnings: [String] = []

    public init() {}

    public mutating func add(_ name: String, _ value: Int = 1) {
        if let i = counters.firstIndex(where: { $0.name == name }) {
            counters[i].value += value
        } else {
            counters.append((name, value))
        }
    }

    /// Records a warning; the same text twice is kept once.
    public mutating func warn(_ message: String) {
        if !warnings.contains(message) { warnings.append(message) }
    }

    public subscript(_ name: String) -> Int { counters.first { $0.name == name }?.value ?? 0 }

    /// True when the pass changed nothing (warnings come with changes, and are not counted).
    public var isEmpty: Bool { counters.allSatisfy { $0.value == 0 } }

    public var description: String { counters.map { "\($0.name) \($0.value)" }.joined(separator: ", ") }
}

/// Options every pass sees, and the hooks a pipeline calls between passes.
public struct PassContext: Sendable {
    /// Run the verifier after every pass and name the pass that broke the IR.
    public var verify: Bool
    /// Tags after which to print the IR ("all" for every pass).
    public var printIRAfter: Set<String>
    public var printIRBefore: Set<String>
    /// Where printed IR goes.
    public var emit: @Sendable (String) -> Void
    /// Told of long work (`label`, `total` items): once with `finished` 0 as it starts, then
    /// once per finished item with `finished` 1 (from any thread), so a command can show
    /// progress.
    public var progress: @Sendable (_ label: String, _ total: Int, _ finished: Int) -> Void = { _, _, _ in }
    /// What `quantize` applies, when a precision was chosen.
    public var quantization: QuantizationPlan?
    /// What `prune-2-4` applies, when sparsity was chosen.
    public var sparsity: SparsityPlan?

    public init(
        verify: Bool = true, printIRAfter: Set<String> = [], printIRBefore: Set<String> = [],
        emit: @escaping @Sendable (String) -> Void = { print($0, terminator: "") }
    ) {
        self.verify = verify
        self.printIRAfter = printIRAfter
        self.printIRBefore = printIRBefore
        self.emit = emit
    }
}
