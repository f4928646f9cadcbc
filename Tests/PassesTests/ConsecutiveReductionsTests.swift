// consecutive-reductions, Before and Expected side by side: axes apart are read transposed
// to the end; consecutive ones, bridged by axes of extent 1, stay.
import IR
import Passes
import XCTest

final class ConsecutiveReductionsTests: XCTestCase {
    func testAxesApartMoveToTheEndAndKeptDimensionsComeBackByReshape() throws {
        let (after, statistics) = try apply(
            ConsecutiveReductions(),
            to: """
                graph main(%x: f32[2,5,6,3,4]) -> (%y: f32[*], %z: f32[*], %w: f32[*]) {
                  const %axes: i64[3] = [1, 2, -1]
                  const %leading: i64[3] = [0, 1, 2]
                  %y = ReduceMean(%x, %axes) name="group_mean"
                  %z = ReduceMax(%x, %axes) {keepdims=0}
                  %w = ReduceSum(%x, %leading)
                  return %y, %z, %w
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,5,6,3,4]) -> (%y: f32[*], %z: f32[*], %w: f32[*]) {
              const %axes: i64[3] = [1, 2, -1]
              const %leading: i64[3] = [0, 1, 2]
              const %y_shape: i64[5] = [2, 1, 1, 3, 1]
              const %y_trailing_axes: i64[3] = [2, 3, 4]
              const %z_trailing_axes: i64[3] = [2, 3, 4]
              %y_reduced_last = Transpose(%x) {perm=[0, 3, 1, 2, 4]} name="group_mean/reduced_last"
              %y_flat = ReduceMean(%y_reduced_last, %y_trailing_axes) {keepdims=0} name="group_mean"
              %y = Reshape(%y_flat, %y_shape) name="group_mean/kept_axes"
              %z_reduced_last = Transpose(%x) {perm=[0, 3, 1, 2, 4]} name="z/reduced_last"
              %z = ReduceMax(%z_reduced_last, %z_trailing_axes) {keepdims=0}
              %w = ReduceSum(%x, %leading)
              return %y, %z, %w
            }
            """)
        XCTAssertEqual(statistics["ReduceMean"], 1)
        XCTAssertEqual(statistics["ReduceMax"], 1)
    }
}
