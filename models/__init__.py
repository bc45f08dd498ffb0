"""What training and serving share: network definitions, input contracts, the model-folder format.

The trained folders live beside this package (`models/boston/`, `models/mnist/`).
Import submodules directly; `models.networks` and the loader import paddle, `models.features` does not.
"""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
