"""The shared services a running server (or a CLI command) builds once and hands to domains."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from comfyvn import __version__
from comfyvn.config.settings import SettingsManager
from comfyvn.core.jobs import JobManager
from comfyvn.core.modder_hooks import HookBus
from comfyvn.core.webhooks import WebhookService


@dataclass
class Services:
    settings: SettingsManager
    bus: HookBus
    jobs: JobManager
    webhooks: WebhookService
    started_at: float = field(default_factory=time.time)
    version: str = __version__

    @property
    def uptime(self) -> float:
        return time.time() - self.started_at
