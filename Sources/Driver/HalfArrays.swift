// Arrays of half-precision floats given where a model or bundle takes float32 (a float16
// model's inputs, which npucc reads as float32): widened, which is exact.
import IR

extension Tensor {
    /// This array as an input of `dtype`: a float16 or bfloat16 array for a float32 input
    /// widened to float32; any other as it is (the caller checks the type).
    func widened(for dtype: DType) -> Tensor {
        dtype == .float32 && self.dtype.isHalf ? cast(to: .float32) : self
    }
}
