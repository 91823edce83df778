"""A huge embeddings answer is encoded off the event loop, byte for byte what `dumps` writes."""
from __future__ import annotations

import asyncio

from gateway.http import dumps, dumps_embeddings, embedding_values


def test_off_loop_encoding_is_identical() -> None:
    r = {"object": "list", "model": "m\x00", "usage": {"prompt_tokens": 1, "total_tokens": 1},
         "data": [{"object": "embedding", "index": i, "embedding": [i / 7, -1e-9, 3.0]} for i in range(200)]}
    assert asyncio.run(dumps_embeddings(r, batch=16)) == dumps(r)
    assert embedding_values(r) == 600
    r["data"] = [{"object": "embedding", "index": 0, "embedding": "AAAA"}]
    assert asyncio.run(dumps_embeddings(r)) == dumps(r) and embedding_values(r) == 0
