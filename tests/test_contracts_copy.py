"""The repository's copy of OpenAI's contracts matches the shared one beside the repository, when present."""
from __future__ import annotations

from pathlib import Path

import pytest

NAME = "openai-chat-embeddings-models.openapi.json"
OURS = Path(__file__).parent / "contracts" / NAME
SHARED = Path(__file__).resolve().parents[2] / "shared" / "contracts" / NAME


def test_contract_copy_is_present() -> None:
    assert OURS.stat().st_size > 100_000


@pytest.mark.skipif(not SHARED.exists(), reason="no ../shared/contracts beside this clone")
def test_contract_copy_matches_the_shared_one() -> None:
    assert OURS.read_bytes() == SHARED.read_bytes()
