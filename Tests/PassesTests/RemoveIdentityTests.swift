// remove-identity, Before and Expected side by side: readers move to the input, graph
// outputs keep their names, and the cases where the node must stay.
import IR
import Passes
import XCTest

final class RemoveIdentityTests: XCTestCase {
    func testReadersReadTheInputDirectly() throws {
        let (after, statistics) = try apply(
            RemoveIdentity(),
            to: """
                graph main(%x: f32[2]) -> (%y: f32[*]) {
                  %r = Relu(%x)
                  %i = Identity(%r)
                  %d, _ = Dropout(%i, _, _)
                  %y = Add(%d, %i)
                  return %y
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2]) -> (%y: f32[*]) {
              %r = Relu(%x)
              %y = Add(%r, %r)
              return %y
            }
            """)
        XCTAssertEqual(statistics["removed"], 2)
    }

    func testACastToTheTypeItsInputHasGoesAndOthersStay() throws {
        // A float16 model's casts, read as float32; a cast of unknown input type stays.
        let (after, statistics) = try apply(
            RemoveIdentity(),
            to: """
                graph main(%x: f32[2], %k: i64[2]) -> (%y: f32[*], %w: f32[*]) {
                  %h: f32[2] = Cast(%x) {to=1}
                  %r = Relu(%h)
                  %f = Cast(%k) {to=1}
                  %u: f32[2] = Cast(%r) {to=1}
                  %v = Cast(%u) {to=1}
                  %y = Add(%v, %f)
                  %w = Cast(%r) {to=7}
                  return %y, %w
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2], %k: i64[2]) -> (%y: f32[*], %w: f32[*]) {
              %r = Relu(%x)
              %f = Cast(%k) {to=1}
              %u: f32[2] = Cast(%r) {to=1}
              %y = Add(%u, %f)
              %w = Cast(%r) {to=7}
              return %y, %w
            }
            """)
        XCTAssertEqual(statistics["removed"], 2)
    }

    func testAGraphOutputKeepsItsNameAndTheProducerTakesIt() throws {
        let (after, statistics) = try apply(
            RemoveIdentity(),
            to: """
                graph main(%x: f32[2]) -> (%out: f32[2], %z: f32[*]) {
                  %r: f32[2] = Relu(%x)
                  %d = Dropout(%r)
                  %out = Identity(%d)
                  %z = Neg(%r)
                  return %out, %z
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2]) -> (%out: f32[2], %z: f32[*]) {
              %out: f32[2] = Relu(%x)
              %z = Neg(%out)
              return %out, %z
            }
            """)
        XCTAssertEqual(statistics["removed"], 2)
    }

    func testTwoOutputsOfOneValue() throws {
        // The first output takes the producer's name; the second stays a copy of it.
        let (after, statistics) = try apply(
            RemoveIdentity(),
            to: """
                graph main(%x: f32[2]) -> (%a: f32[*], %b: f32[*]) {
                  %r = Relu(%x)
                  %a = Identity(%r)
                  %b = Identity(%r)
                  return %a, %b
                }
                """)
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2]) -> (%a: f32[*], %b: f32[*]) {
              %a = Relu(%x)
              %b = Identity(%a)
              return %a, %b
            }
            """)
        XCTAssertEqual(statistics["removed"], 1)
    }

    /// Identity of a graph input, of a constant or of another graph output, feeding a graph
    /// output, and a Dropout whose mask is read: nothing can take their place.
    func testDoesNotFireWhereTheNodeMustStay() throws {
        let before = """
            graph main(%x: f32[2]) -> (%a: f32[*], %b: f32[*], %c: f32[*], %e: f32[*], %m: bool[*]) {
              const %k: f32[2] = [1.0, 2.0]
              %a = Identity(%x)
              %b = Identity(%k)
              %c = Relu(%x)
              %e = Identity(%c)
              %d, %m = Dropout(%c)
              return %a, %b, %c, %e, %m
            }
            """
        let (after, statistics) = try apply(RemoveIdentity(), to: before)
        XCTAssertEqual(after, before)
        XCTAssertEqual(statistics["removed"], 0)
    }

    func testAReductionOverNoAxisWithNoopIsTheInput() throws {
        let (after, statistics) = try apply(
            RemoveIdentity(),
            to: """
                graph main(%x: f32[2,3]) -> (%y: f32[*], %z: f32[*], %w: f32[*]) {
                  const %none: i64[0] = []
                  const %one: i64[1] = [1]
                  %a = ReduceMean(%x, %none) {noop_with_empty_axes=1}
                  %b = ReduceMax(%x) {noop_with_empty_axes=1}
                  %y = Relu(%a)
                  %z = Neg(%b)
                  %w = ReduceSum(%x, %one) {noop_with_empty_axes=1}
                  return %y, %z, %w
                }
                """)
        // Without noop, or with axes, a reduction reduces: only the first two go.
        XCTAssertEqual(
            after,
            """
            graph main(%x: f32[2,3]) -> (%y: f32[*], %z: f32[*], %w: f32[*]) {
              const %none: i64[0] = []
              const %one: i64[1] = [1]
              %y = Relu(%x)
              %z = Neg(%x)
              %w = ReduceSum(%x, %one) {noop_with_empty_axes=1}
              return %y, %z, %w
            }
            """)
        XCTAssertEqual(statistics["removed"], 2)
    }
}
