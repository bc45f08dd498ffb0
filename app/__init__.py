"""The FastAPI service: `app.main:app`, or `python -m app`."""
