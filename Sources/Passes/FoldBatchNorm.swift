// fold-batchnorm: an inference BatchNormalization after a Conv, ConvTranspose, Gemm or
// MatMul with constant weights becomes part of that op's weights and bias.
import Foundation
import IR

/// Folds `BatchNormalization(P(x, W, b))` into `P(x, W', b')` for P in Conv, ConvTranspose,
/// Gemm and 2-D MatMul, with s = scale / sqrt(var + epsilon) per channel:
/// W' = W * s along the output channels and b' = (b - mean) * s + bias (b = 0 when P has
/// none; MatMul gets an Add of the new bias). Requires constant weights and BN parameters
/// (canonicalize first, so constant subgraphs are constants) and types from infer-shapes.
/// Guarantees that no BatchNormalization directly follows such a producer afterwards.
/// Leaves alone a BN whose input has other users or is a graph output (the unnormalized
/// value is still needed), training-mode BNs, and producers whose weights are not constant.
/// A producer whose fp8 weights came from a QDQ model (import-qdq) loses
/// `npucc.weight_format` and `npucc.weight_scale` when a BN folds into it.
public struct FoldBatchNorm: Pass {
    public let tag = "fold-batchnorm"
    public let summary = "Fold BatchNormalization into the preceding Conv, ConvTranspose, Gemm or MatMul"

    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws -> PassStatistics {
        var stats = PassStatistics()
        let users = graph.users()
        let producers = graph.producers()
        let outputs = Set(graph.outputs.map(\.name))
        var removed = Set<Int>()
        for (i, bn) in graph.nodes.enumerated() where bn.op == "BatchNormalization" {
            guard bn.int("training_mode", default: 0) == 0, let x = bn.input(0), let p = producers[x],
                users[x]?.count == 1, !outputs.contains(x), bn.outputs.count == 1,
                let params = constantParameters(bn, graph)
            else { continue }
            var producer = graph.nodes[p]
            guard let fold = try folded(&producer, params: params, bnOutput: bn.outputs[0], graph: &graph) else { continue }
            // Scaled weights are no longer the fp8 values a QDQ model fixed: quantize rounds them anew.
            producer.attributes[QuantizationAttributes.weightFormat] = nil
            producer.attributes[QuantizationAttributes.weightScale] = nil
            graph.nodes[p] = producer
            graph.nodes[i] = fold ?? bn
            if fold == nil { removed.insert(i) }
            stats.add("folded")
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return stats
    }

    /// Per-channel scale and shift of an inference BN with constant parameters.
    private func constantParameters(_ bn: Node, _ graph: Graph) -> (scale: [Double], shift: [Double])? {
        let values = (1...4).map { bn.input($0).flatMap { graph.constants[$0] } }
        guard values.allSatisfy({ $0 != nil && $0!.dtype.isFloatingPoint }) else { return nil }
        let (gamma, beta, mean, variance) = (
            values[0]!.doubles(), values[1]!.doubles(), values[2]!.doubles(), values[3]!.doubles()
        )
        guard Set([gamma.count, beta.count, mean.count, variance.count]).count == 1 else { return nil }
        let epsilon = Double(bn.float("epsilon", default: 1e-5))
        // In float32, as the reference kernel does, so folding changes results by rounding only.
        let scale = (0..<gamma.count).map { Double(Float(gamma[$0]) / sqrtf(Float(variance[$0]) + Float(epsilon))) }
        let shift = (0..<gamma.count).map { beta[$0] - mean[$0] * scale[$0] }
        return (scale, shift)
    }

    /// Rewrites `producer` to include the BN; returns the node that replaces the BN (an Add
    /// for MatMul), `.some(nil)` when the BN simply disappears, or nil when it cannot fold.
    private func folded(
        _ producer: inout Node, params: (scale: [Double], shift: [Double]), bnOutput: String,
        graph: inout Graph
    ) throws -> Node?? {
        let channels = params.scale.count
        guard let wName = producer.input(1), let w = graph.constants[wName], w.dtype == .float32 else { return nil }
        let bias = producer.input(2).flatMap { graph.constants[$0] }
        if producer.input(2) != nil && bias == nil { return nil }
        switch producer.op {
        case "Conv", "ConvTranspose":
            let group = producer.int("group", default: 1)
            let outChannels = producer.op == "Conv" ? w.shape[0] : w.shape[1] * group
            guard outChannels == channels, bias.map({ $0.count == channels }) ?? true else { return nil }
            let newW =
                producer.op == "Conv"
                ? scaledRows(w, params.scale)
                : scaled(
                    w,
                    channelOf: { i in
                        let perInput = w.count / w.shape[0], perOutput = perInput / w.shape[1]
                        let c = i / perInput, j = (i % perInput) / perOutput
                        return (c / (w.shape[0] / group)) * w.shape[1] + j
                    }, params.scale)
            producer.inputs = [
                producer.inputs[0], graph.addConstant(wName + "_folded", newW),
                graph.addConstant((producer.input(2) ?? "\(wName)_bias") + "_folded", newBias(bias, params)),
            ]
            producer.outputs = [bnOutput]
            return .some(nil)
        case "Gemm":
            guard w.rank == 2 else { return nil }
            let transB = producer.int("transB", default: 0) != 0
            guard (transB ? w.shape[0] : w.shape[1]) == channels else { return nil }
            let newW = transB ? scaledRows(w, params.scale) : scaled(w, channelOf: { $0 % w.shape[1] }, params.scale)
            let beta = Double(producer.float("beta", default: 1))
            if let b = bias {
                guard beta != 0, b.count == channels, b.rank == 1 || b.shape == [1, channels] else { return nil }
            }
            let c = bias?.doubles() ?? Array(repeating: 0, count: channels)
            let newC = (0..<channels).map {
                Float((beta * c[$0] * params.scale[$0] + params.shift[$0]) / (bias == nil ? 1 : beta))
            }
            if bias == nil { producer.attributes["beta"] = .float(1) }
            producer.inputs = [
                producer.inputs[0], graph.addConstant(wName + "_folded", newW),
                graph.addConstant((producer.input(2) ?? "\(wName)_bias") + "_folded", Tensor(newC, shape: [channels])),
            ]
            producer.outputs = [bnOutput]
            return .some(nil)
        case "MatMul":
            guard w.rank == 2, w.shape[1] == channels, graph.type(of: producer.outputs[0])?.shape?.rank == 2 else { return nil }
            let newW = scaled(w, channelOf: { $0 % w.shape[1] }, params.scale)
            producer.inputs[1] = graph.addConstant(wName + "_folded", newW)
            let shift = graph.addConstant("\(wName)_bn_bias_folded", Tensor(params.shift.map { Float($0) }, shape: [channels]))
            return .some(Node(op: "Add", name: producer.name + "_bn", inputs: [producer.outputs[0], shift], outputs: [bnOutput]))
        default:
            return nil
        }
    }

    /// `w` with element i multiplied by scale[channelOf(i)], in float32.
    private func scaled(_ w: Tensor, channelOf: (Int) -> Int, _ scale: [Double]) -> Tensor {
        let factors = scale.map { Float($0) }
        return Tensor(
            w.withUnsafeBuffer(as: Float.self) { v in
                [Float](unsafeUninitializedCapacity: v.count) { out, count in
                    for i in 0..<v.count { out[i] = v[i] * factors[channelOf(i)] }
                    count = v.count
                }
            }, shape: w.shape)
    }

    /// `scaled` where channel c is the c-th of `scale.count` equal runs of `w` (a Conv's
    /// weight or a transposed Gemm's, output channels first): each run times its one factor.
    private func scaledRows(_ w: Tensor, _ scale: [Double]) -> Tensor {
        let run = w.count / scale.count
        return Tensor(
            w.withUnsafeBuffer(as: Float.self) { v in
                [Float](unsafeUninitializedCapacity: v.count) { out, count in
                    for (c, s) in scale.enumerated() {
                        let factor = Float(s)
                        for i in (c * run)..<((c + 1) * run) { out[i] = v[i] * factor }
                    }
                    count = v.count
                }
            }, shape: w.shape)
    }

    private func newBias(_ bias: Tensor?, _ params: (scale: [Double], shift: [Double])) -> Tensor {
        let b = bias?.doubles() ?? Array(repeating: 0, count: params.scale.count)
        let folded: [Float] = (0..<b.count).map { (c: Int) -> Float in Float(b[c] * params.scale[c] + params.shift[c]) }
        return Tensor(folded, shape: [b.count])
    }
}
