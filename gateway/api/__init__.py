"""The gateway's HTTP and WebSocket surfaces, registered on the Quart app by gateway/app.py's create_app.
They read bodies and frames and write responses and frames; the stages between are gateway/pipeline.py's.

    v1.py      the OpenAI-compatible surface on Quart: GET /v1/models, and the paths of the hot routes
    fast.py    POST /v1/chat/completions and /v1/embeddings, answered on ASGI around Quart
    ws.py      chat completions over a WebSocket, /v1/chat/completions/ws
    admin.py   /admin/*: keys, the policy, live model status (the admin key as a Bearer token)
"""
