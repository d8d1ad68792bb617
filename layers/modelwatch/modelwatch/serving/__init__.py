"""The prediction API: model loading, caching, validation, capture."""
