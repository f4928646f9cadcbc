// The attributes the passes leave on a layer for the interpreter, the backend and the QDQ
// export: the formats its weight and activations are rounded to (quantize, import-qdq), the
// activation fused into it (fuse-activation) and its 2:4 sparsity (prune-2-4). They live
// with the IR because every later stage reads them.

/// The attributes of a quantized layer.
public enum QuantizationAttributes {
    public static let activationFormat = "npucc.activation_format"
    public static let activationAmax = "npucc.activation_amax"
    /// The exact per-tensor fp8 activation scale a QDQ model carried, or the nvfp4 tensor
    /// scale an NVFP4 model's activation quantizer used (import-qdq), which the interpreter
    /// uses instead of amax / 448 or amax / (6 · 448): that quotient is not always the
    /// scale again.
    public static let activationScale = "npucc.activation_scale"
    /// On a MatMul whose B is itself an activation (no constant weight): input 1 is rounded
    /// to this format on entry, as `activationFormat` rounds input 0 (fp16, by value).
    public static let activationFormatB = "npucc.activation_format_b"
    public static let weightFormat = "npucc.weight_format"
    /// The weight scales a QDQ model carried (import-qdq): one, or one per output channel.
    public static let weightScale = "npucc.weight_scale"
}

/// The attributes a fused activation leaves on its producer; the interpreter applies them
/// to the producer's float32 result, after bias (and after any fake quantization of its
/// input, which concerns the input only).
public enum FusedActivationAttributes {
    /// "Relu", "Clip" or "LeakyRelu".
    public static let activation = "npucc.activation"
    /// Clip's bounds (absent: unbounded on that side).
    public static let minimum = "npucc.activation_min"
    public static let maximum = "npucc.activation_max"
    /// LeakyRelu's slope.
    public static let alpha = "npucc.activation_alpha"
}

/// The attribute prune-2-4 leaves on a layer whose weight it pruned.
public enum PruningAttributes {
    /// "2:4": every group of 4 weights along the reduction holds at most 2 nonzeros.
    public static let sparsity = "npucc.sparsity"
}

/// The prefix of every attribute the passes add; no ONNX attribute starts with it.
public let npuccAttributePrefix = "npucc."
