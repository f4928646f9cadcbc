// batchnorm-arithmetic, Before and Expected side by side: computed statistics become the
// arithmetic of ONNX's definition; constant ones stay for fold-batchnorm.
import IR
import Passes
import XCTest

final class BatchNormArithmeticTests: XCTestCase {
    func testComputedStatisticsBecomeTheDefinitionsArithmetic() throws {
        let (after, statistics) = try apply(
            BatchNormArithmetic(),
            to: """
                graph main(%x: f32[1,4,6,1]) -> (%y: f32[*], %z: f32[*]) {
                  const %axes: i64[3] = [0, 2, 3]
                  const %one: f32[4] = [1.0, 1.0, 1.0, 1.0]
                  const %zero: f32[4] = [0.0, 0.0, 0.0, 0.0]
                  %mean: f32[4] = ReduceMean(%x, %axes) {keepdims=0}
                  %var: f32[4] = ReduceMean(%x, %axes) {keepdims=0}
                  %y = BatchNormalization(%x, %one, %zero, %mean, %var) {epsilon=0.001} name="ln"
                  %z = BatchNormalization(%x, %one, %zero, %zero, %one) name="bn"
                  return %y, %z
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,4,6,1]) -> (%y: f32[*], %z: f32[*]) {
              const %axes: i64[3] = [0, 2, 3]
              const %one: f32[4] = [1.0, 1.0, 1.0, 1.0]
              const %y_channels: i64[3] = [-1, 1, 1]
              const %y_epsilon: f32[] = [0.001]
              const %zero: f32[4] = [0.0, 0.0, 0.0, 0.0]
              %mean: f32[4] = ReduceMean(%x, %axes) {keepdims=0}
              %var: f32[4] = ReduceMean(%x, %axes) {keepdims=0}
              %y_scale = Reshape(%one, %y_channels) name="ln/scale"
              %y_bias = Reshape(%zero, %y_channels) name="ln/bias"
              %y_mean = Reshape(%mean, %y_channels) name="ln/mean"
              %y_variance = Reshape(%var, %y_channels) name="ln/variance"
              %y_variance_epsilon = Add(%y_variance, %y_epsilon) name="ln/variance_epsilon"
              %y_deviation = Sqrt(%y_variance_epsilon) name="ln/deviation"
              %y_centred = Sub(%x, %y_mean) name="ln/centred"
              %y_normalized = Div(%y_centred, %y_deviation) name="ln/normalized"
              %y_scaled = Mul(%y_normalized, %y_scale) name="ln/scaled"
              %y = Add(%y_scaled, %y_bias) name="ln/shifted"
              %z = BatchNormalization(%x, %one, %zero, %zero, %one) name="bn"
              return %y, %z
            }
            """)
        XCTAssertEqual(statistics["rewritten"], 1)
    }
}
