// Parse errors say where (line and column, counted in characters from 1) and what was
// expected there. Positions below are counted by hand from the texts.
import IR
import XCTest

final class ParserErrorTests: XCTestCase {
    private func assertError(_ text: String, _ message: String, line: UInt = #line) {
        XCTAssertThrowsError(try IRParser.parse(text), line: line) { error in
            XCTAssertEqual((error as? IRError)?.message, message, line: line)
        }
    }

    private let header = "model ir=8 opsets={\"\": 21}\n"

    func testStructureErrors() {
        assertError(
            header + "graph g() -> () {\n  %a = Relu(\n}\n",
            "line 4, column 1: expected an operand %value or '_', found '}'")
        assertError(
            header + "graph g(%x: f32[2]) -> () {\n  %y = Relu(%x) )\n  return\n}",
            "line 3, column 17: expected 'const', a node or 'return', found ')'")
        assertError(
            header + "graph g(%x: f32[2] %y: f32[2]) -> () {\n  return\n}",
            "line 2, column 20: expected ',' or ')', found %y")
        assertError(header + "graph g() () {\n  return\n}", "line 2, column 11: expected '->', found '('")
        assertError(
            header + "graph g() -> () {\n  return\n}\nextra",
            "line 5, column 1: expected the end of the text after the graph, found 'extra'")
        assertError(
            header + "graph g(%x: f32[2]) -> (%x: f32[2]) {\n  return %y\n}",
            "line 3, column 3: return gives %y but the graph outputs are %x")
        assertError(
            header + "graph g() -> () {\n  %y = Relu()",
            "line 3, column 14: expected 'const', a node or 'return', found the end of the text")
    }

    func testHeaderErrors() {
        assertError("model ir=8 ir=9\ngraph g() -> () {\n  return\n}", "line 1, column 12: model field 'ir' is given twice")
        assertError(
            "model producer=\"p\" colour=\"red\"\ngraph g() -> () {\n  return\n}",
            "line 1, column 20: unknown model field 'colour'; expected producer, version, domain, model_version, ir, opsets, doc or metadata"
        )
        assertError("model ir=eight\ngraph g() -> () {\n  return\n}", "line 1, column 10: expected an integer, found 'eight'")
        assertError(
            "model opsets={\"\": 1, \"\": 2}\ngraph g() -> () {\n  return\n}",
            "line 1, column 22: opset domain \"\" is given twice")
    }

    func testTypeErrors() {
        assertError(
            header + "graph g(%x: f99[1]) -> () {\n  return\n}",
            "line 2, column 13: unknown element type 'f99'; expected one of f32, u8, i8, u16, i16, i32, i64, bool, f16, f64, u32, u64, bf16, f8e4m3, f8e5m2, u4, i4, f4e2m1"
        )
        assertError(
            header + "graph g(%x: f32[1,,2]) -> () {\n  return\n}",
            "line 2, column 19: expected a dimension (a size, a symbol or '?'), found ','")
        assertError(header + "graph g(%x: f32) -> () {\n  return\n}", "line 2, column 16: expected '[', found ')'")
    }

    func testDataErrors() {
        assertError(
            header + "graph g() -> () {\n  const %c: f32[2] = [1]\n  return\n}",
            "line 3, column 22: constant %c lists 1 elements but f32[2] holds 2")
        assertError(
            header + "graph g() -> () {\n  const %c: u8[2] = [1, 256]\n  return\n}",
            "line 3, column 25: '256' is not a value of type u8")
        assertError(
            header + "graph g() -> () {\n  const %c: i32[1] = [1.5]\n  return\n}",
            "line 3, column 23: '1.5' is not a value of type i32")
        assertError(
            header + "graph g() -> () {\n  const %c: bool[1] = [1]\n  return\n}",
            "line 3, column 24: '1' is not a value of type bool")
        assertError(
            header + "graph g() -> () {\n  const %c: f32[20] = <elided 20 elements>\n  return\n}",
            "line 3, column 23: constant %c has elided data; print it with all constant data "
                + "(IRPrinter(constantDataLimit: nil), npucc dump-ir --constants) to parse it")
        assertError(
            header + "graph g() -> () {\n  const %c: f32[N] = [1]\n  return\n}",
            "line 3, column 22: constant %c needs a type of known size, not f32[N]")
        assertError(
            header + "graph g() -> () {\n  const %c: u16[2] = 0x0102\n  return\n}",
            "line 3, column 22: constant %c has 4 hex digits; u16[2] needs 8")
        assertError(
            header + "graph g() -> () {\n  const %c: u16[1] = 0x01zz\n  return\n}",
            "line 3, column 22: constant %c has a character that is not a hex digit in its data")
        assertError(
            header + "graph g() -> () {\n  const %c: f32[1] = [0]\n  const %c: f32[1] = [1]\n  return\n}",
            "line 4, column 9: constant %c is defined twice")
    }

    func testNodeAndAttributeErrors() {
        assertError(
            header + "graph g(%x: f32[1]) -> () {\n  %y = Op(%x) {a=1, a=2}\n  return\n}",
            "line 3, column 21: attribute 'a' is given twice")
        assertError(
            header + "graph g(%x: f32[1]) -> () {\n  %y = Op(%x) {a=[1, \"s\"]}\n  return\n}",
            "line 3, column 22: expected an attribute list element, found string \"s\"")
        assertError(
            header + "graph g(%x: f32[1]) -> () {\n  %y = Op(%x) {a=99999999999999999999}\n  return\n}",
            "line 3, column 18: '99999999999999999999' is not an integer in range")
        assertError(
            header + "graph g(%x: f32[1]) -> () {\n  %y = Op(%x) {a=}\n  return\n}",
            "line 3, column 18: expected an attribute value, found '}'")
    }

    func testLexicalErrorsCountCharactersNotBytes() {
        assertError(
            header + "graph g() -> () {\n  %\"ünï\" = Op() name=\"open\n}",
            "line 3, column 22: unterminated string")
        assertError(header + "graph g() -> () {\n  %\"é\" = Op() $\n}", "line 3, column 15: unexpected character '$'")
        assertError(header + "graph g() -> () {\n  %y = Op() name=\"a\\qb\"\n}", "line 3, column 20: unknown escape '\\q'")
        assertError(header + "graph g() -> () {\n  % = Op()\n}", "line 3, column 3: expected a value name after '%'")
        assertError(header + "graph g() -> () {\n  %y = Op() {a=-x}\n}", "line 3, column 16: expected a number after '-'")
    }
}
