"""``Recent``, the bounded map every tracker keeps: the newest ``limit`` keys, set order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from authlens.recent import Recent


@given(limit=st.integers(1, 4), keys=st.lists(st.integers(0, 6), max_size=30))
def test_recent_keeps_the_newest_keys_in_the_order_they_were_last_set(limit, keys):
    recent, model = Recent(limit), []
    for step, key in enumerate(keys):
        recent[key] = step
        model = [k for k in model if k != key][-(limit - 1):] if limit > 1 else []
        model.append(key)
        assert list(recent) == model
        assert recent[key] == step
