"""The Open Inference Protocol (KServe v2): its messages, its tensors and the two models' signatures."""
