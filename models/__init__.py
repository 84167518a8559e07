"""What a model is at run time: shared text encoding, onnxruntime runners, shipped models."""
