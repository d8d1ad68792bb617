"""The prediction app for uvicorn, configured from the environment like the Lambda function.

Capture is sent in a worker thread after uvicorn has written each response.
"""

from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.settings import ServingSettings, load_settings

context = build_context(load_settings(ServingSettings))
context.capture.mode = "thread"
app = create_app(context)
