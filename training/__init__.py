"""Offline training: fetch the data, train, evaluate, write the model folders in `models/`.

Run the scripts as modules from the repository root: `python -m training.boston_numpy`,
`python -m training.boston`, `python -m training.mnist`.
"""
