"""modelwatch: serve, capture and watch ML models on AWS (or on one machine)."""

__version__ = "0.1.0"
