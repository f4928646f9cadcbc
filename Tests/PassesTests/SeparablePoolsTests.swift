// separable-pools, Before and Expected side by side: a pool over depth, rows and columns
// becomes the pool over each plane then along depth; pools over two axes, with Indices or of
// unknown extents stay. The rewritten graph computes what the original does (interpreter).
import IR
import Passes
import Reference
import XCTest

final class SeparablePoolsTests: XCTestCase {
    private let before = """
        graph main(%x: f32[1,2,5,6,7], %p: f32[1,2,6,7], %u: f32[1,2,?,6,7]) -> (%y: f32[1,2,3,4,4], %z: f32[1,2,5,3,4], %q: f32[*], %v: f32[*]) {
          %y = MaxPool(%x) {ceil_mode=1, dilations=[2, 1, 1], kernel_shape=[2, 3, 3], pads=[1, 1, 0, 0, 1, 1], strides=[2, 2, 2]} name="pool3d"
          %z = AveragePool(%x) {kernel_shape=[3, 2, 3], pads=[1, 0, 1, 1, 0, 1], strides=[1, 2, 2]}
          %q = MaxPool(%p) {kernel_shape=[3, 3]}
          %v = MaxPool(%u) {kernel_shape=[2, 2, 2]}
          return %y, %z, %q, %v
        }
        """

    func testAPoolOverThreeAxesIsThePoolOverPlanesThenAlongDepth() throws {
        let (after, statistics) = try apply([InferShapes(), SeparablePools()], to: before)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[1,2,5,6,7], %p: f32[1,2,6,7], %u: f32[1,2,?,6,7]) -> (%y: f32[1,2,3,4,4], %z: f32[1,2,5,3,4], %q: f32[*], %v: f32[*]) {
              const %y_depth_rows_shape: i64[4] = [1, 2, 5, 16]
              const %y_planes_shape: i64[4] = [1, 10, 6, 7]
              const %y_volume_shape: i64[5] = [1, 2, 3, 4, 4]
              const %z_depth_rows_shape: i64[4] = [1, 2, 5, 12]
              const %z_planes_shape: i64[4] = [1, 10, 6, 7]
              const %z_volume_shape: i64[5] = [1, 2, 5, 3, 4]
              %y_planes = Reshape(%x, %y_planes_shape) name="pool3d/planes"
              %y_plane_pool = MaxPool(%y_planes) {ceil_mode=1, dilations=[1, 1], kernel_shape=[3, 3], pads=[1, 0, 1, 1], strides=[2, 2]} name="pool3d/plane_pool"
              %y_depth_rows = Reshape(%y_plane_pool, %y_depth_rows_shape) name="pool3d/depth_rows"
              %y_depth_pool = MaxPool(%y_depth_rows) {ceil_mode=1, dilations=[2, 1], kernel_shape=[2, 1], pads=[1, 0, 0, 0], strides=[2, 1]} name="pool3d/depth_pool"
              %y: f32[1,2,3,4,4] = Reshape(%y_depth_pool, %y_volume_shape) name="pool3d/volume"
              %z_planes = Reshape(%x, %z_planes_shape) name="z/planes"
              %z_plane_pool = AveragePool(%z_planes) {dilations=[1, 1], kernel_shape=[2, 3], pads=[0, 1, 0, 1], strides=[2, 2]} name="z/plane_pool"
              %z_depth_rows = Reshape(%z_plane_pool, %z_depth_rows_shape) name="z/depth_rows"
              %z_depth_pool = AveragePool(%z_depth_rows) {dilations=[1, 1], kernel_shape=[3, 1], pads=[1, 0, 1, 0], strides=[1, 1]} name="z/depth_pool"
              %z: f32[1,2,5,3,4] = Reshape(%z_depth_pool, %z_volume_shape) name="z/volume"
              %q: f32[1,2,4,5] = MaxPool(%p) {kernel_shape=[3, 3]}
              %v: f32[1,2,?,5,6] = MaxPool(%u) {kernel_shape=[2, 2, 2]}
              return %y, %z, %q, %v
            }
            """)
        XCTAssertEqual(statistics["MaxPool"], 1)
        XCTAssertEqual(statistics["AveragePool"], 1)
    }

    func testTheRewrittenPoolsComputeTheOriginals() throws {
        var graph = try IRParser.parseGraph(before)
        graph.nodes.removeLast(2)
        graph.outputs.removeLast(2)
        graph.inputs.removeLast(2)
        try Verifier.verify(graph)
        var rewritten = graph
        _ = try Pipeline([InferShapes(), SeparablePools()]).run(&rewritten, PassContext())
        XCTAssertEqual(rewritten.nodes.filter { $0.op.hasSuffix("Pool") }.count, 4)
        let values = (0..<420).map { Float(($0 * 37) % 101) / 8 - 6 }
        let x = Tensor(values, shape: [1, 2, 5, 6, 7])
        let want = try Interpreter(graph: graph).run(["x": x]), got = try Interpreter(graph: rewritten).run(["x": x])
        XCTAssertEqual(got["y"]!.floats(), want["y"]!.floats())
        XCTAssertEqual(got["y"]!.shape, [1, 2, 3, 4, 4])
        let (a, b) = (got["z"]!.floats(), want["z"]!.floats())
        XCTAssertEqual(a.count, b.count)
        for (p, q) in zip(a, b) { XCTAssertEqual(p, q, accuracy: 1e-5 * max(1, abs(q))) }
    }
}
