"""Times onnxruntime on a model for `make bench`: prints one JSON line per thread count
with the median seconds per run.

usage: ort_time.py MODEL.onnx INPUTS.npz THREADS[,THREADS...] RUNS
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

model, inputs_path, threads, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
feeds = dict(np.load(inputs_path))
for n in [int(t) for t in threads.split(",")]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = n
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    print(json.dumps({"threads": n, "median_s": float(np.median(times)), "runs": runs}))
