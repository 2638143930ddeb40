"""authlens, as mitmproxy loads it: ``mitmdump -s addon.py`` (also mitmweb, mitmproxy).

The code lives in the ``authlens`` package under ``addons/``; this file only makes it importable
from a plain checkout (no install needed) and hands mitmproxy the addon list.
"""

import os
import sys

_PACKAGE_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "addons")
if _PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, _PACKAGE_ROOT)

from authlens.mitm.addon import addons, hook_stubs  # noqa: E402,F401

globals().update(hook_stubs(globals()))  # mitmproxy asks this module for hooks on every flow
