"""OAuth 2.0 token lifecycle: read token-endpoint traffic (``grants``), follow each token from the
token endpoint to the requests that use it (``lifecycle``), tell its story (``timeline``)."""
