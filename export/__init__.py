"""ONNX export of trained runs (tf2onnx, parity-checked): `python -m export --help`."""
