"""addon.py as mitmproxy's script loader loads it (``mitmdump -s addon.py``)."""

from __future__ import annotations

from pathlib import Path

from mitmproxy import hooks
from mitmproxy.addons import script
from mitmproxy.test import taddons, tflow

from authlens.mitm.addon import AuthLens

REPO = Path(__file__).resolve().parents[1]


def test_every_event_finds_a_name_on_the_module():
    """mitmproxy looks each event's hook up on the script module on every flow: a name the
    module has costs a dict lookup, a missing one an AttributeError (hook_stubs)."""
    module = script.load_script(str(REPO / "addon.py"))
    missing = [name for name in hooks.all_hooks if name not in vars(module)]
    assert missing == ["add_log"]  # mitmproxy warns about an addon with an add_log hook
    assert not any(vars(module)[name] for name in hooks.all_hooks if name != "add_log")


def test_events_still_reach_authlens_and_nothing_else():
    module = script.load_script(str(REPO / "addon.py"))
    flow = tflow.tflow(resp=True)
    event = {name: hooks.all_hooks[name](flow) for name in ("request", "response")}
    with taddons.context() as tctx:
        found = {name: [type(a) for a, _ in tctx.master.addons._iter_hooks(module, event)]
                 for name, event in [*event.items(), ("update", hooks.UpdateHook([flow]))]}
    assert found == {"response": [AuthLens], "request": [], "update": []}
