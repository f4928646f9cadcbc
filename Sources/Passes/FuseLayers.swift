// The layer fusions every compile runs before it quantizes, and the fake-quant interpreter
// with it (it must compute what the bundle computes): BatchNormalization folded into the
// convolutions before it, spelled-out layer normalizations as LayerNormalization, and
// activations into the layers before them.
import IR

extension Pipeline {
    public static let fuseLayers = Pipeline([FoldBatchNorm(), FuseLayerNorm(), FuseActivation(), EliminateDeadCode()])
}
