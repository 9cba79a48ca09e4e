"""Compute: the scheduler that spreads render jobs over devices, and the provider registry behind it."""

from comfyvn.compute.providers import Device, Provider, ProviderRegistry, check
from comfyvn.compute.scheduler import Scheduler

__all__ = ["Device", "Provider", "ProviderRegistry", "Scheduler", "check"]
