// The operand-type table names ops import knows (an op it does not know is refused before
// its operands are looked at, so a misspelt key would check nothing), and its rules refer to
// inputs of their own op.
import IR
import XCTest

@testable import ONNXImport

final class OperandTypesTests: XCTestCase {
    func testEveryOpOfTheTableIsOneImportReads() {
        let known = Set(OpRegistry.all.map(\.name)).union(ImportContext.decompositions.keys).union(["Upsample"])
        for op in OperandTypes.table.keys.sorted() { XCTAssertTrue(known.contains(op), op) }
    }

    func testARuleComparesWithAnotherInputWithinTheOpsArity() {
        for (op, rules) in OperandTypes.table {
            for rule in rules {
                if case .sameAs(let k, _) = rule.allowed { XCTAssertNotEqual(k, rule.input, op) }
                if let schema = OpRegistry.schema(op) {
                    XCTAssertLessThan(rule.input, schema.inputs.upperBound, "\(op) \(rule.name)")
                }
            }
        }
    }

    func testTheRuleOfTheOpsetReadDecides() throws {
        let node = Node(op: "BatchNormalization", name: "bn", inputs: ["x", "s", "b", "m", "v"], outputs: ["y"])
        let types: [String: DType] = ["x": .float32, "s": .float64, "b": .float64, "m": .float64, "v": .float64]
        XCTAssertThrowsError(try OperandTypes.check(node, opset: 14) { types[$0] }) {
            XCTAssertEqual(
                "\($0)",
                "node BatchNormalization \"bn\": input 1 (scale) is f64 but input 0 (X) is f32; ONNX defines them as one type")
        }
        XCTAssertNoThrow(try OperandTypes.check(node, opset: 15) { types[$0] })
        // An operand whose type import does not know yet is left to the shape rules.
        XCTAssertNoThrow(try OperandTypes.check(node, opset: 14) { $0 == "x" ? .float32 : nil })
    }
}
