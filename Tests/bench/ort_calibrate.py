"""Times onnxruntime's static-quantization calibration (quantize_static's calibrators) on a
model and an .npz of samples, for `make bench`. Prints one JSON line per method.

usage: ort_calibrate.py MODEL.onnx SAMPLES.npz INPUT_NAME
"""
import json
import sys
import tempfile
import time

import numpy as np
from onnxruntime.quantization import CalibrationMethod, create_calibrator
from ort_samples import SampleReader

model, samples_path, input_name = sys.argv[1], sys.argv[2], sys.argv[3]
samples = np.load(samples_path)[input_name]


for name, method in [("minmax", CalibrationMethod.MinMax), ("entropy", CalibrationMethod.Entropy)]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        calibrator = create_calibrator(model, augmented_model_path=f"{tmp}/augmented.onnx", calibrate_method=method)
        calibrator.collect_data(SampleReader(samples, input_name))
        calibrator.compute_data()
        print(json.dumps({"method": name, "seconds": time.perf_counter() - start, "samples": int(len(samples))}))
