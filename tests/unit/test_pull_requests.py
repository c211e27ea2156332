"""Pull requests found in the agent's text (bot/blocks/pull_requests.py): only plain PR addresses count."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.blocks import pull_requests
from bot.blocks.pull_requests import PullRequest


def test_github_and_gitlab_pull_requests_are_found_once_each_in_order() -> None:
    text = (
        "Opened https://github.com/acme/api/pull/42 (and updated https://github.com/acme/api/pull/42). "
        "Also https://gitlab.com/group/sub/proj/-/merge_requests/7, not https://github.com/acme/api/issues/5 "
        "nor http://github.com/acme/api/pull/9 nor https://github.com.evil.example/acme/api/pull/1."
    )
    found = pull_requests.merge(pull_requests.find(text))
    assert [(p.repo, p.number) for p in found] == [("acme/api", 42), ("group/sub/proj", 7)]
    assert found[0].url == "https://github.com/acme/api/pull/42" and found[0].label == "PR acme/api#42"


def test_stored_pull_requests_are_checked_again_when_read() -> None:
    stored = pull_requests.dumps([PullRequest("acme/api", 1, "https://github.com/acme/api/pull/1")])
    assert [p.number for p in pull_requests.loads(stored)] == [1]
    tampered = '[["acme/api", 2, "javascript:alert(1)"]]'
    assert pull_requests.loads(tampered) == [] and pull_requests.loads("nope") == []


@given(st.text(max_size=400))
def test_every_link_found_is_an_https_pull_request_address(text: str) -> None:
    for pr in pull_requests.find(text):
        assert pr.url.startswith(("https://github.com/", "https://gitlab.com/"))
        assert pr.url.endswith(f"/{pr.number}") and ("/pull/" in pr.url or "/-/merge_requests/" in pr.url)
        assert " " not in pr.url and len(pr.label) <= 75
