"""Settings of every function, typed and validated at cold start, from ``MODELWATCH_*`` variables.

One class per function, one loader for all of them::

    from modelwatch.settings import ServingSettings, load_settings
    settings = load_settings(ServingSettings)   # SettingsError names each bad variable

Endpoints are not settings of ours: boto3 reads ``AWS_ENDPOINT_URL`` itself (moto locally).
"""

from modelwatch.settings.base import JsonSetting, ModelwatchSettings, SettingsError, load_settings
from modelwatch.settings.capture_replay import CaptureReplaySettings
from modelwatch.settings.export import ExportSettings
from modelwatch.settings.job_dispatch import JobDispatchSettings
from modelwatch.settings.model_routes import ModelRoutesSettings
from modelwatch.settings.monitoring import MonitoringSettings
from modelwatch.settings.notify import NotifySettings
from modelwatch.settings.registry_client import RegistryClientSettings
from modelwatch.settings.registry_sync import RegistrySyncSettings
from modelwatch.settings.remote_write import RemoteWriteSettings
from modelwatch.settings.serving import ServingSettings

__all__ = [
    "CaptureReplaySettings",
    "ExportSettings",
    "JobDispatchSettings",
    "JsonSetting",
    "ModelRoutesSettings",
    "ModelwatchSettings",
    "MonitoringSettings",
    "NotifySettings",
    "RegistryClientSettings",
    "RegistrySyncSettings",
    "RemoteWriteSettings",
    "ServingSettings",
    "SettingsError",
    "load_settings",
]
