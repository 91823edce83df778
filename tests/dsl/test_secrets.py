"""dsl.secrets: the one set of secret headers, key shapes, and the maskers the parser, checker and gateway share."""
from __future__ import annotations

from dsl import facts, secrets


def test_one_set_of_secret_headers_the_union_of_the_old_two() -> None:
    assert facts.SECRET_HEADERS is secrets.SECRET_HEADERS
    old_facts = {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie",
                 "x-goog-api-key", "anthropic-api-key", "openai-api-key"}
    old_check = {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "apikey",
                 "x-auth-token", "ocp-apim-subscription-key", "cookie"}
    assert secrets.SECRET_HEADERS == old_facts | old_check


def test_mask_shows_three_characters_of_a_long_secret_only() -> None:
    assert secrets.mask("sk-live-abcdefghijklmnop") == "sk-…"
    assert secrets.mask("short") == "…"


def test_redact_line_masks_inside_strings_only() -> None:
    line = 'provider p kind openai key "sk-live-abcdefghijklmnop" base_url "https://u:pw@h/?key=abc"'
    assert secrets.redact_line(line) == 'provider p kind openai key "sk-…" base_url "https://…@h/?key=…"'
    assert secrets.redact_line('key k "k"', ["k"]) == 'key k "…"'


def test_mask_secrets_for_free_text() -> None:
    text = ("upstream said: Authorization: Bearer tok123456789 for https://user:hunter2@api.x.com/v1?api_key=zz9 "
            "with sk-proj-abcdefghij and the value s3cr3tvalue")
    out = secrets.mask_secrets(text, ["s3cr3tvalue", "ab"])
    for leaked in ("tok123456789", "hunter2", "zz9", "sk-proj-abcdefghij", "s3cr3tvalue"):
        assert leaked not in out
    assert "***" in out and "ab" in secrets.mask_secrets("ab", ["ab"])  # too short to be taken for a secret
    assert "sk-…" in secrets.mask_secrets("key sk-proj-abcdefghij", replacement=None)
    assert secrets.mask_secrets("GET https://h/v1?a=1&b=2 failed", drop_queries=True) == "GET https://h/v1?… failed"


def test_mask_url_and_drop_addresses() -> None:
    assert secrets.mask_url("postgresql://u:pw@db/x?password=p") == "postgresql://u:***@db/x?password=***"
    assert secrets.mask_url("https://h/v1") == "https://h/v1"
    assert secrets.drop_addresses("refused by 10.0.0.1 and http://h:80/x and h.local:8080") == \
        "refused by <address> and <address> and <address>"
