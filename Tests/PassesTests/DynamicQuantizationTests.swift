// dynamic-quantization, Before and Expected side by side: onnxruntime's dynamic int8 MatMul
// (a weight scale and zero point per column) becomes the float32 MatMul of the dequantized
// weight; a product read other than through its Cast and Mul stays.
import IR
import Passes
import XCTest

final class DynamicQuantizationTests: XCTestCase {
    func testTheProductBecomesTheFloatLayerOfTheDequantizedWeight() throws {
        let before = """
            graph main(%x: f32[1,2], %v: f32[1,2]) -> (%y: f32[*], %p: i32[*]) {
              const %b: i8[2,2] = [10, -20, 127, 1]
              const %b_scale: f32[2] = [0.5, 0.25]
              const %b_zero: i8[2] = [0, 1]
              %q, %s, %z = DynamicQuantizeLinear(%x) name="x_quant"
              %scales = Mul(%s, %b_scale) name="scales"
              %i = MatMulInteger(%q, %b, %z, %b_zero) name="product"
              %f = Cast(%i) {to=1} name="cast"
              %y = Mul(%f, %scales) name="fc"
              %vq, %vs, %vz = DynamicQuantizeLinear(%v) name="v_quant"
              %p = MatMulInteger(%vq, %b, %vz, %b_zero) name="kept"
              return %y, %p
            }
            """
        let (after, _) = try apply([DynamicQuantization(), EliminateDeadCode()], to: before)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,2], %v: f32[1,2]) -> (%y: f32[*], %p: i32[*]) {
              const %b: i8[2,2] = [10, -20, 127, 1]
              const %b_dequantized: f32[2,2] = [5.0, -5.25, 63.5, 0.0]
              const %b_zero: i8[2] = [0, 1]
              %y = MatMul(%x, %b_dequantized) name="fc"
              %vq, %vs, %vz = DynamicQuantizeLinear(%v) name="v_quant"
              %p = MatMulInteger(%vq, %b, %vz, %b_zero) name="kept"
              return %y, %p
            }
            """)
        let (_, statistics) = try apply(DynamicQuantization(), to: before)
        XCTAssertEqual(statistics["MatMulInteger"], 1)
        XCTAssertEqual(statistics.warnings.count, 1)
    }
}
