"""The mitmproxy side of authlens: flow adapter, annotations and the addon classes."""
