// The nodes a matrix layer's epilogue takes over: while its output tiles are still in SRAM
// they can take a bias the graph adds as a separate Add of a constant (MatMul exports do),
// a residual Add of another activation of the same shape (the end of a ResNet block) and
// the Relu, or the Clip of constant bounds (an int8 model's removed pair), after that Add.
// Each must directly follow the one before it, read only its result, and the epilogue
// applies them in the graph's order, so the bits are the graph's. Last, element-wise nodes
// that read nothing but that result and scalars (a GELU's Div, Erf, Add and two Muls, a
// SiLU's Sigmoid and Mul): the vector steps their own pass would run, on the same values.
import IR

/// What a matrix layer's epilogue does after its accumulation, beyond its own bias and fused activation.
struct Epilogue: Equatable {
    /// A constant the graph adds to the layer's output, one value per output channel (or one for all).
    var bias: [Float]?
    /// The activation added to the layer's output (after the bias and the fused activation).
    var residual: String?
    /// A Relu after the residual Add.
    var relu = false
    /// Or a Clip of constant bounds after it: [low, high], infinite where the Clip has none.
    var clip: [Float]?
    /// The vector steps of element-wise nodes after those (`tail(after:)`), on the result so
    /// far (`input(0)`) and their own results.
    var tail: [Lowering.PassStep] = []
    /// The value the layer writes: the last absorbed node's output.
    var result: String
    /// The node indices lowered as part of the layer.
    var absorbed: [Int] = []
}

extension Lowering {
    /// The epilogues of the matrix layers (by node index) that absorb at least one node.
    static func epilogues(_ graph: Graph, _ packed: [String: PackedLayer]) -> [Int: Epilogue] {
        var readers: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for input in Set(n.inputs) where !input.isEmpty { readers[input, default: []].append(i) }
        }
        let outputs = Set(graph.outputs.map(\.name))
        func dims(_ v: String) -> [Int]? {
            guard let t = graph.type(of: v), t.dtype == .float32, let shape = t.shape else { return nil }
            let d = shape.dims.compactMap(\.value)
            return d.count == shape.rank ? d : nil
        }
        let chains = elementwiseChains(graph, excluded: [])
        var found: [Int: Epilogue] = [:]
        for (i, node) in graph.nodes.enumerated() {
            guard ["Conv", "ConvTranspose", "Gemm", "MatMul"].contains(node.op), let output = node.outputs.first,
                packed[output] != nil, let outDims = dims(output), outDims.count >= 2
            else { continue }
            // Output channels: axis 1 of a convolution's [N, C, H, W], the last axis of a product's.
            let channelAxis = node.op.hasPrefix("Conv") ? 1 : outDims.count - 1
            var epilogue = Epilogue(result: output)
            var plain = node.input(2) == nil && node.attributes[FusedActivationAttributes.activation] == nil
            var j = i + 1
            while j < graph.nodes.count {
                let next = graph.nodes[j], current = epilogue.result
                guard readers[current]?.count == 1, !outputs.contains(current), next.inputs.contains(current),
                    let out = next.outputs.first, next.outputs.count == 1, dims(out) == outDims,
                    next.attributes.keys.allSatisfy({ !$0.hasPrefix(npuccAttributePrefix) })
                else { break }
                let other = next.inputs.count == 2 ? (next.inputs[0] == current ? next.inputs[1] : next.inputs[0]) : nil
                if next.op == "Add", plain, epilogue.residual == nil, let other, let t = graph.constants[other],
                    let values = channelVector(t, outDims, channelAxis)
                {
                    epilogue.bias = values
                    plain = false
                } else if next.op == "Add", epilogue.residual == nil, let other, other != current,
                    graph.constants[other] == nil, dims(other) == outDims
                {
                    epilogue.residual = other
                    plain = false
                } else if next.op == "Relu", epilogue.residual != nil, !epilogue.relu {
                    epilogue.relu = true
                } else if next.op == "Clip", epilogue.residual != nil, !epilogue.relu, next.inputs.first == current,
                    let bounds = clipBounds(next, graph)
                {
                    epilogue.clip = bounds
                } else {
                    break
                }
                epilogue.result = out
                epilogue.absorbed.append(j)
                j += 1
                if epilogue.relu || epilogue.clip != nil { break }
            }
            if let tail = tail(after: epilogue.result, readers[epilogue.result] ?? [], graph, chains: chains, outputs: outputs) {
                epilogue.tail = tail.steps
                epilogue.absorbed += tail.nodes
                epilogue.result = graph.nodes[tail.nodes.last!].outputs[0]
            }
            if !epilogue.absorbed.isEmpty { found[i] = epilogue }
        }
        return found
    }

    /// The element-wise nodes an epilogue runs after writing `value`, which the nodes `users`
    /// read (in graph order): a chain of them (`elementwiseChains`), or one, whose only
    /// operand but scalars is `value`, that reads all of it (no other node does, and it is no
    /// graph output), and whose result has its shape.
    private static func tail(
        after value: String, _ users: [Int], _ graph: Graph, chains: [ElementwiseChain], outputs: Set<String>
    ) -> ElementwiseChain? {
        guard !outputs.contains(value), let first = users.first else { return nil }
        // The chain from the first reader on (a chain may start with the nodes the epilogue
        // took already), or that reader alone.
        let nodes =
            chains.lazy.compactMap { chain in chain.nodes.firstIndex(of: first).map { Array(chain.nodes[$0...]) } }.first
            ?? (users.count == 1 && isChainable(first, graph) ? users : [])
        guard !nodes.isEmpty, let chain = try? ElementwiseChain(nodes: nodes, graph), chain.inputs == [value],
            Set(users).isSubset(of: chain.nodes),
            graph.type(of: graph.nodes[chain.nodes.last!].outputs[0])?.shape == graph.type(of: value)?.shape
        else { return nil }
        return chain
    }

    /// A float32 Clip's bounds when each is absent or a constant of one value: [low, high],
    /// infinite where absent (as the interpreter reads them).
    private static func clipBounds(_ clip: Node, _ graph: Graph) -> [Float]? {
        var bounds: [Float] = [-.infinity, .infinity]
        for k in 1..<3 {
            guard let name = clip.input(k) else { continue }
            guard let t = graph.constants[name], t.count == 1, t.dtype == .float32 else { return nil }
            bounds[k - 1] = t.floats()[0]
        }
        return bounds
    }

    /// `t` as one float32 per output channel when, broadcast to `outDims`, it varies along
    /// `axis` alone (a single value repeated for every channel); nil otherwise.
    private static func channelVector(_ t: Tensor, _ outDims: [Int], _ axis: Int) -> [Float]? {
        guard t.dtype == .float32, t.shape.count <= outDims.count else { return nil }
        let padded = [Int](repeating: 1, count: outDims.count - t.shape.count) + t.shape
        let n = outDims[axis]
        guard padded.enumerated().allSatisfy({ $0.offset == axis ? ($0.element == n || $0.element == 1) : $0.element == 1 })
        else { return nil }
        let values = t.floats()
        return values.count == n ? values : [Float](repeating: values[0], count: n)
    }
}
