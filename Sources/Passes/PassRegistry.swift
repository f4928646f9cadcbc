// The registry: every pass by its stable tag, one line each. `npucc opt --passes` and
// the IR-printing flags look tags up here; a test checks every pass is registered once.
import IR

public enum PassRegistry {
    /// Every pass, in the order `npucc opt --help` lists them.
    public static let all: [any Pass] = [
        InferShapes(),
        FoldConstants(),
        RemoveIdentity(),
        ExplicitPads(),
        GlobalPools(),
        SeparablePools(),
        BatchNormArithmetic(),
        ConsecutiveReductions(),
        ComposeTransposes(),
        SimplifyGemm(),
        LiftVectorMatMul(),
        FloatExponent(),
        ResolveCastLike(),
        EliminateDeadCode(),
        ImportQDQ(),
        DynamicQuantization(),
        FoldBatchNorm(),
        FuseLayerNorm(),
        FuseActivation(),
        Prune24(),
        QuantizeLayers(),
    ]

    /// The pass with `tag`, or nil when there is none.
    public static func pass(_ tag: String) -> (any Pass)? { all.first { $0.tag == tag } }
}
