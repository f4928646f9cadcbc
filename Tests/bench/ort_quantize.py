"""Times onnxruntime's `quantize_static` on a model and an .npz of samples, for `make bench`:
MinMax calibration, per-channel weights, QDQ format, int8 activations and weights (S8S8,
onnxruntime's recommended first choice for QDQ). The time covers loading the model,
calibrating, quantizing and writing the quantized model. Prints one JSON line.

usage: ort_quantize.py MODEL.onnx SAMPLES.npz INPUT_NAME OUT.onnx
"""
import json
import logging
import os
import sys
import time

import numpy as np
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from ort_samples import SampleReader

model, samples_path, input_name, output = sys.argv[1:5]
logging.getLogger().setLevel(logging.ERROR)  # one warning per BatchNormalization input otherwise
samples = np.load(samples_path)[input_name]


start = time.perf_counter()
quantize_static(model, output, SampleReader(samples, input_name), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "samples": int(len(samples)), "bytes": os.path.getsize(output)}))
