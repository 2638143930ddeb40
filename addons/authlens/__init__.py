"""authlens: tells a developer why an API call was refused.

The core (``model``, ``catalog``, ``authorization``, ``credentials``, ``challenge``, ``tokens``,
``bodies``, their ``*_checks``, ``analyze``) knows nothing of mitmproxy; ``authlens.mitm`` adapts it to live flows and
``authlens.capture`` to ``.flow``/HAR files.
"""

__version__ = "0.1.0"
