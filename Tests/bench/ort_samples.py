"""The samples of an .npz, one at a time, as onnxruntime's quantization tools read
calibration data (shared by the `make bench` peer scripts)."""
from onnxruntime.quantization import CalibrationDataReader


class SampleReader(CalibrationDataReader):
    """Each row of `samples` as a batch of one for input `input_name`."""

    def __init__(self, samples, input_name):
        self.rows = iter(samples)
        self.input_name = input_name

    def get_next(self):
        row = next(self.rows, None)
        return None if row is None else {self.input_name: row[None]}
