"""ONNX export of trained runs (tf2onnx, parity-checked): `python -m bardbot.export --help`."""
