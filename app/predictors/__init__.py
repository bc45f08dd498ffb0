"""Preprocessing (no FastAPI): any uploaded picture of a digit brought to MNIST form."""
