"""The gateway's request handling, registered on the Quart app by gateway/app.py's create_app.

    openai.py  the OpenAI-compatible surface: GET /v1/models, and the pipeline the hot routes share
               (decide, stream, relay, finish: metrics and the decision log)
    fast.py    POST /v1/chat/completions and /v1/embeddings, answered on ASGI around Quart
    ws.py      chat completions over a WebSocket, /v1/chat/completions/ws
    admin.py   /admin/*: keys, the policy, live model status (the admin key as a Bearer token)
"""
