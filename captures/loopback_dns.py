"""Recording-only mitmproxy addon: every upstream connection goes to the loopback server.

There is no DNS in the capture sandbox; the story hosts (``api.example.test``, ...) only exist
here. The request, and so the recorded flow, keeps its real host name.
"""

import os


class LoopbackDNS:
    def server_connect(self, data):
        data.server.address = ("127.0.0.1", int(os.environ["LOOPBACK_PORT"]))


addons = [LoopbackDNS()]
