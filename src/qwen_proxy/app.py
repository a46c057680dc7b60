"""``create_app(settings)``: the gateway as an ASGI application."""

from __future__ import annotations

from qwen_proxy.api.app import App
from qwen_proxy.config import Settings
from qwen_proxy.gateway import Gateway


def create_app(settings: Settings) -> App:
    """Wire the gateway's parts for ``settings``; uvicorn's lifespan starts and stops them."""
    return App(Gateway(settings))
