"""CPU kernels the zoo adds to MindSpore through its official extension point (AOT ``ops.Custom`` operators)."""
