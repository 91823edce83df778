"""Checks on providers: kinds, base URLs, keys and headers, and literal secrets (E103, E111, E120-E122,
E130-E132, W133, E200 for a provider timeout, W210 for a header name). Every literal secret found is
recorded so the source lines shown under diagnostics mask it.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from . import ast as A
from .check_base import HTTP_TOKEN, CheckerBase, did_you_mean
from .secrets import CREDENTIAL_PARAMS, KEY_SHAPES, SECRET_HEADERS, mask as _mask

__all__ = ["ProviderChecks"]

OPENAI_HOST = "api.openai.com"
KEYED_KINDS = ("azure", "anthropic", "gemini")  # kinds that always need a key (openai only at OPENAI_HOST)


class ProviderChecks(CheckerBase):
    def check_providers(self) -> None:
        for p in self.ps.of(A.Provider):
            if p.name in self.providers:
                first = self.providers[p.name]
                self.add("E111", f"provider `{p.name}` is declared twice", p.span,
                         f"the first is at {first.span.file}:{first.span.line}")
            else:
                self.providers[p.name] = p
            self.check_provider(p)

    def check_provider(self, p: A.Provider) -> None:
        file = p.span.file
        if isinstance(p.key, str):
            tok = self.after(p.span, "key")
            if tok is not None:
                src = self.sources[file]
                self.secret(file, src.raw(tok[2] + 1, len(tok[0]) - 2))
            self.secret(file, p.key)
            self.add("E120", f"provider `{p.name}` has its key written in the file (`{_mask(p.key)}`)",
                     tok[1] if tok else p.span,
                     "write `key env(NAME)` and set NAME in the gateway's environment; rotate the key")
        for n, (hname, value) in enumerate(p.headers):
            name_tok = self.after(p.span, "header", n)
            where = name_tok[1] if name_tok else p.span
            if not HTTP_TOKEN.fullmatch(hname):
                self.add("W210", f"header name \"{hname}\" is not an HTTP header name (no spaces or quotes)", where)
            if isinstance(value, str):
                lowered = hname.lower()
                if lowered in SECRET_HEADERS or KEY_SHAPES.search(value):
                    # The value token sits two tokens after the name (`"name" = "value"`).
                    toks = self.toks(p.span)
                    if name_tok is not None:
                        idx = next((i for i, t in enumerate(toks) if t[2] == name_tok[2]), None)
                        if idx is not None and idx + 2 < len(toks):
                            vt = toks[idx + 2]
                            self.secret(file, self.sources[file].raw(vt[2] + 1, len(vt[0]) - 2))
                    self.secret(file, value)
                    for m in KEY_SHAPES.finditer(value):
                        self.secret(file, m.group())
                    self.add("E121", f"provider `{p.name}` sends header \"{hname}\" with a secret written in the "
                                     f"file (`{_mask(value)}`)", where,
                             f"write `header \"{hname}\" = env(NAME)`")
        if p.kind not in A.PROVIDER_KINDS:
            self.add("E103", f"provider `{p.name}` has kind `{p.kind}`, which the gateway does not know",
                     self.at_after(p.span, "kind"),
                     did_you_mean(p.kind, A.PROVIDER_KINDS, "kinds"))
        host = None
        if p.base_url is not None:
            host = self.check_base_url(p)
        if p.kind == "azure" and p.base_url is None:
            self.add("E130", f"azure provider `{p.name}` has no base_url", p.span,
                     'add `base_url "https://<resource>.openai.azure.com"`')
        needs_key = p.kind in KEYED_KINDS or (p.kind == "openai" and (p.base_url is None or host == OPENAI_HOST))
        if needs_key and p.key is None:
            self.add("E132", f"provider `{p.name}` ({p.kind}) has no key", p.span,
                     "add `key env(NAME)` with the environment variable that holds it")
        if p.api_version is not None and p.kind != "azure":
            self.add("W133", f"provider `{p.name}` sets api_version, which only azure providers use",
                     self.at_after(p.span, "api_version"), "remove it")
        if p.timeout is not None and p.timeout.seconds <= 0:
            self.add("E200", f"provider `{p.name}` has a timeout of 0: every call would time out", p.timeout.span,
                     "remove it (the default applies) or give a positive duration such as 30s")

    def check_base_url(self, p: A.Provider) -> str | None:
        assert p.base_url is not None
        file = p.span.file
        where = self.at_after(p.span, "base_url")
        try:
            parts = urlsplit(p.base_url)
            host = parts.hostname
            user, password = parts.username, parts.password
        except ValueError:
            self.add("E131", f"provider `{p.name}` has a base_url that is not a URL", where,
                     'write it as "https://host/path"')
            return None
        schemes = ("http", "https", "mock") if p.kind == "mock" else ("http", "https")
        if parts.scheme not in schemes or (parts.scheme != "mock" and not parts.netloc):
            self.add("E131", f"provider `{p.name}` has a base_url that is not http(s)", where,
                     'write it as "https://host/path"' + (" (or mock://...)" if p.kind == "mock" else ""))
        creds = []
        if user is not None or password is not None:
            userinfo = parts.netloc.rpartition("@")[0]
            self.secret(file, userinfo)
            if password:
                self.secret(file, password)
            creds.append("user:password@")
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name.lower() in CREDENTIAL_PARAMS:
                self.secret(file, value)
                creds.append(f"?{name}=")
        if creds:
            self.add("E122", f"provider `{p.name}` has credentials in its base_url ({', '.join(creds)})", where,
                     "remove them from the URL and use `key env(NAME)` or `header \"...\" = env(NAME)`")
        return host
