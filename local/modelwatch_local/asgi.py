"""The prediction app for uvicorn, configured from the environment like the Lambda function."""

from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.settings import ServingSettings, load_settings

app = create_app(build_context(load_settings(ServingSettings)))
