# Open-Router gateway image: non-root, the default policy baked in at /etc/open-router/policies (mount a
# directory or a ConfigMap over it to serve your own). Build: docker build -t open-router .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dsl ./dsl
COPY gateway ./gateway
RUN pip install . && rm -rf /src

COPY policies/default.policy /etc/open-router/policies/default.policy
RUN useradd --system --uid 10001 --home-dir /var/lib/open-router --create-home openrouter
USER 10001
WORKDIR /var/lib/open-router

EXPOSE 8080
# SIGTERM drains (--drain-timeout, 30 s); give the container longer than that to stop.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status != 200)"]
ENTRYPOINT ["open-router", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080", "--policies", "/etc/open-router/policies"]
