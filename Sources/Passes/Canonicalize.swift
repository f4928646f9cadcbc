// The canonicalize pipeline every model goes through after import: the graph in its
// simplest equivalent form, with every type inferred and a QDQ model's quantization read
// into layer attributes, before any optimisation.
import IR

extension Pipeline {
    /// Canonicalization, repeated until nothing changes (at most 8 rounds; one or two
    /// suffice in practice, the second only confirming the first).
    public static let canonicalize = Pipeline(
        [
            // Renames first, so folding and shape rules see through Identity and Dropout.
            RemoveIdentity(),
            // Types before folding: Shape and Size fold from fully known input shapes.
            InferShapes(),
            // With the types known, CastLike is the Cast it stands for.
            ResolveCastLike(),
            // onnxruntime's dynamic quantization: each int8 product as the float32 layer of
            // its dequantized weight (before folding, which would fold the weight's codes).
            DynamicQuantization(),
            // QDQ models: read the fp8 scales of weights and activation pairs onto their layers
            // before folding turns the weights' DequantizeLinear into plain constants (it needs
            // types to check that a removed pair changes no value's type). No-op without Q/DQ.
            ImportQDQ(),
            // Constant subgraphs and exporter shape chains become constants.
            FoldConstants(),
            // Folded shape operands (Reshape, Expand, Slice, ...) make more extents known.
            InferShapes(),
            // With the extents known, auto_pad becomes explicit pads.
            ExplicitPads(),
            // A pool whose one window covers its input is the global pool it computes.
            GlobalPools(),
            // A pool over three axes as the pool over each depth's plane, then along depth.
            SeparablePools(),
            // A BatchNormalization of statistics computed in the graph (Keras's layer
            // normalization through tf2onnx) as the element-wise arithmetic it is.
            BatchNormArithmetic(),
            // A reduction over axes apart (a channels-last group normalization) reads them
            // transposed to the end, one row each.
            ConsecutiveReductions(),
            // A Transpose of a Transpose as one; one that moves nothing, or only axes of
            // extent 1, as the Identity or Reshape it is.
            ComposeTransposes(),
            // Operands in the forms the matrix unit and the vector unit take: a Gemm's alpha,
            // beta and transA folded, 1-D MatMul operands lifted, Pow's integer exponent made
            // float32 (the next round types what they add).
            SimplifyGemm(),
            LiftVectorMatMul(),
            FloatExponent(),
            // Last, drop what folding left unread (the chains' nodes, replaced constants).
            EliminateDeadCode(),
        ], maxRounds: 8)
}
