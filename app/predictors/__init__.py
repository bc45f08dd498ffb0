"""Plain predictor classes (no FastAPI): decode, preprocess, infer, encode."""
