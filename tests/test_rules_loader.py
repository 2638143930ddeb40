"""Rule files: the schema, the validator's messages (file:line), the matcher's priorities."""

import re
from pathlib import Path

import pytest

from authlens.rules import RuleSet, RuleStore, load_text, schema
from authlens.rules.loader import load_presets

ROOT = Path(__file__).resolve().parents[1]


def errors(text):
    loaded = load_text(text, "bad.toml")
    assert not loaded.rules
    return [str(e) for e in loaded.errors]


GOOD = '''
[[rule]]
name = "Orders"
hosts = ["api.example"]
'''


@pytest.mark.parametrize("text, expected", [
    ('[[rule]]\nname = "x"\nhosts = ["a.example"\n',
     r"^bad\.toml:3: not valid TOML: "),
    (GOOD + '\n[rule.token]\naudiance = ["x"]\n',
     r"^bad\.toml:7: unknown key 'audiance' in \[rule\.token\] \(did you mean 'audiences'\?\); "
     r"expected one of: audiences, issuers, scopes, roles, max_skew$"),
    (GOOD + '\n[rule.token]\nmax_skew = "5m"\n',
     r"^bad\.toml:7: 'rule\.token\.max_skew' must be an integer, not a string: Clock skew"),
    (GOOD + 'paths = "/v1/"\n',
     r"^bad\.toml:5: 'rule\.paths' must be a list of strings, not a string"),
    ('[[rule]]\nname = "x"\nhosts = ["https://api.example/v1"]\n',
     r"^bad\.toml:3: 'rule\.hosts' has 'https://api\.example/v1': expected a host glob, without "
     r"scheme or path"),
    ('[[rule]]\nname = "x"\nhosts = ["api.[example"]\n',
     r"^bad\.toml:3: 'rule\.hosts' has 'api\.\[example': expected a host glob of lower-case"),
    ('[[rule]]\nhosts = ["api.example"]\n',
     r"^bad\.toml:1: missing required key 'name' in \[rule\]"),
    (GOOD + '\n[[rule.credential]]\nheader = "X-Key"\nquery = "key"\n',
     r"^bad\.toml:6: a credential table names exactly one place: one of schemes, header, query, "
     r"cookie \(this one has header, query\)$"),
    (GOOD + '\n[rule.errors.codes.Expired]\nmeaning = "m"\nverdict = "authn"\n',
     r"^bad\.toml:8: 'rule\.errors\.codes\.Expired\.verdict' must be one of authentication, "
     r"authorization, other, not 'authn'$"),
    (GOOD + 'methods = ["get"]\n',
     r"^bad\.toml:5: 'rule\.methods' has 'get': expected an HTTP method in upper case"),
    ('[[jwks]]\nissuer = "https://i.example"\n',
     r"^bad\.toml:1: a jwks table names exactly one of 'file' or 'url'$"),
])
def test_bad_rule_files_say_file_line_and_what_was_expected(text, expected):
    messages = errors(text)
    assert len(messages) == 1, messages
    assert re.search(expected, messages[0]), messages[0]


def test_line_of_a_key_in_the_second_of_several_rules():
    text = GOOD + GOOD + '\n[[rule.credential]]\nschemes = ["Bearer"]\nlabel = 3\n'
    assert errors(text) == [
        "bad.toml:12: 'rule.credential.label' must be a string, not an integer: "
        "What to call this credential in messages."]


def test_the_annotated_example_is_valid_and_uses_every_key():
    example = schema.annotated_example()
    loaded = load_text(example, "example.toml")
    assert not loaded.errors and len(loaded.rules) == 1 and len(loaded.jwks) == 1

    def names(key):
        for sub in key.keys:
            yield sub.name
            yield from names(sub)
    for name in set(names(schema.FILE)):
        assert re.search(rf"^(# )?\[*{name}\b|\.{name}[\].]|^(# )?{name} = ", example, re.M), name


def test_readme_shows_the_annotated_example():
    readme = (ROOT / "docs" / "rules.md").read_text("utf-8")
    block = re.search(r"<!-- rules-example:start -->\n```toml\n(.*?)```\n<!-- rules-example:end -->",
                      readme, re.S)
    assert block, "docs/rules.md lacks the rules example markers"
    assert block.group(1) == schema.annotated_example(), (
        "docs/rules.md's rules example is stale: run `PYTHONPATH=addons python3 -m authlens rules schema "
        "--readme docs/rules.md`")


def test_presets_and_the_shipped_example_load_cleanly():
    presets = load_presets()
    assert all(not f.errors for f in presets), [str(e) for f in presets for e in f.errors]
    names = {r.name for f in presets for r in f.rules}
    for api in ("Microsoft Graph", "Entra ID token endpoint", "SharePoint Online", "Dataverse",
                "Azure Resource Manager", "GitHub", "Google APIs", "Slack Web API", "Stripe",
                "AWS API Gateway", "Okta", "Auth0 Management API", "Salesforce", "OpenAI",
                "Docker registry"):
        assert api in names
    store = RuleStore([str(ROOT / "rules")], presets=False)
    store.reload()
    assert store.errors == [] and len(store.ruleset) == 1


def ruleset(text, presets=()):
    loaded = load_text(text, "user.toml")
    assert not loaded.errors, loaded.errors
    return RuleSet([*loaded.rules, *presets])


def test_matching_prefers_exact_host_then_suffix_then_glob_then_longest_path_then_method():
    rules = ruleset('''
[[rule]]
name = "glob"
hosts = ["api*.example.com"]
[[rule]]
name = "suffix"
hosts = ["*.example.com"]
[[rule]]
name = "exact"
hosts = ["api.example.com"]
[[rule]]
name = "exact v2"
hosts = ["api.example.com"]
paths = ["/v2/"]
[[rule]]
name = "exact v2 post"
hosts = ["api.example.com"]
paths = ["/v2/"]
methods = ["POST"]
''')
    assert rules.match("api.example.com", "/v1/x").name == "exact"
    assert rules.match("API.example.com", "/v2/x?a=1").name == "exact v2"
    assert rules.match("api.example.com", "/v2/x", "POST").name == "exact v2 post"
    assert rules.match("www.example.com").name == "suffix"
    assert rules.match("a.b.example.com").name == "suffix"
    assert rules.match("api2.example.com").name == "suffix"
    assert rules.match("example.com") is None
    winner, reasons = rules.explain("api.example.com", "/v2/", "GET")
    assert winner.name == "exact v2"
    assert dict((r.name, why) for r, why in reasons)["exact v2 post"] == "host matches; path or method does not"


def test_a_user_rule_overrides_a_preset():
    preset = [r for f in load_presets() for r in f.rules]
    rules = ruleset('[[rule]]\nname = "My Graph"\nhosts = ["*.microsoft.com"]\n', preset)
    assert rules.match("graph.microsoft.com").name == "My Graph"  # user first, even if less specific
    rules = ruleset('[[rule]]\nname = "GitHub"\nhosts = ["api.github.com"]\nenabled = false\n', preset)
    assert rules.match("api.github.com") is None
