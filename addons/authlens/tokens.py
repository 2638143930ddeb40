"""Decode tokens (JWT/JWS/JWE or opaque) and judge their times."""
CHECKS = ()


def decode_credentials(credentials):
    return []
