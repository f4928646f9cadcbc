// Resize with `antialias` (opset 18) where the stretched filter reads more than 4 inputs per
// output along an axis (a linear resize shrinking by more than 1/2, any cubic one that
// shrinks): more taps than the vector unit's resize takes. Such a resize is linear in its
// input and separable, so when its shapes are known as the model is read it is imported as
// one constant matrix per changed axis, [output extent, input extent], holding IR's
// ResizeGeometry taps (the interpreter's), multiplied from the left (`MatMul(M, X)` with
// the axis moved second to last): a product of activations. Otherwise it stays a Resize.
import IR

extension ImportContext {
    /// Emits Resize `node` with `antialias` 1 as its products when its taps need them and
    /// its shapes are known here; returns false, emitting nothing, otherwise.
    mutating func emitAntialiasedResize(_ node: Node) throws -> Bool {
        guard let x = node.input(0), let out = node.outputs.first, !out.isEmpty,
            let shape = knownType(of: x)?.shape?.concrete, shape.count >= 2
        else { return false }
        var known: [Tensor?] = []
        for index in 1...3 {
            guard let value = node.input(index) else {
                known.append(nil)
                continue
            }
            guard let tensor = constants[value] else { return false }
            known.append(tensor)
        }
        let geometry = try ResizeGeometry(
            node, inputShape: shape, roi: known[0]?.cast(to: .float32).floats(), scales: known[1]?.floats(),
            sizes: known[2]?.int64s().map { Int($0) })
        guard geometry.mostTaps > 4 else { return false }
        let rank = shape.count
        var result = x
        for d in 0..<rank {
            // An axis the resize leaves as it is: each output reads its own index alone.
            let (n, outputs) = (shape[d], geometry.outputShape[d])
            if outputs == n && (0..<n).allSatisfy({ geometry.tapIndex[d][$0] == [$0] && geometry.tapWeight[d][$0] == [1] }) {
                continue
            }
            var matrix = [Float](repeating: 0, count: outputs * n)
            for o in 0..<outputs {
                for (i, w) in zip(geometry.tapIndex[d][o], geometry.tapWeight[d][o]) { matrix[o * n + i] += w }
            }
            let m = addConstant(Tensor(matrix, shape: [outputs, n]), hint: "resize_matrix")
            // Axis d second to last, the product, then back.
            let operand = movedSecondToLast(result, d, rank: rank, in: node, step: "axis\(d)")
            let product = emitStep(of: node, "MatMul", "axis\(d)", [m, operand])
            result = movedBack(product, to: d, rank: rank, in: node, step: "axis\(d)")
        }
        let base = node.name.isEmpty ? out : node.name
        nodes.append(Node(op: "Identity", name: "\(base)/Resize_output", inputs: [result], outputs: [out]))
        return true
    }
}
