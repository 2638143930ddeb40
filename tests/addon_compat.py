"""Throwaway addon: uses authlens.mitm.compat inside a real mitmdump/mitmweb."""

from mitmproxy import ctx

from authlens.mitm import compat

NAME = "compat-demo"


def render(flow, message) -> str:
    return f"compat-demo: {flow.request.path} got {getattr(message, 'status_code', 'request')}"


def priority(flow, message) -> float:
    return 2.0 if getattr(message, "status_code", None) == 401 else -1


def load(loader):
    compat.register_contentview(NAME, render, priority)


def running():
    compat.ensure_web_column(ctx.options, "comment")


def done():
    compat.unregister_contentview(NAME)
