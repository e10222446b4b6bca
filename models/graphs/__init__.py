"""The graphs that graph runtimes serve instead of torch modules: the ONNX export and its int8 quantisation."""
