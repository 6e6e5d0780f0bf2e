# The portal image: web (gunicorn), worker and beat all run from it.
FROM python:3.12-slim

# PYTHONDONTWRITEBYTECODE keeps the running container from writing; the bytecode is compiled
# once here instead (UV_COMPILE_BYTECODE for the dependencies, compileall for the portal),
# or every process would compile every module it imports on every start.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN python -m compileall -q portal integrations syncengine reviews syncs demo_partner manage.py
# collectstatic runs with production settings (hashed file names); these placeholder values
# only satisfy start-up validation and never serve traffic.
RUN DEBUG=false ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    REDIS_URL=redis://build:6379/0 EMAIL_URL=dummy: \
    SECRET_KEY=build-only-placeholder-build-only-placeholder-build-only-placeholder \
    FIELD_ENCRYPTION_KEYS=hZ3I0cR7iU9fQ8b2Lx6mD1sT5vW4yA0kN7pE3gJ2cX8= \
    python manage.py collectstatic --noinput
RUN useradd --create-home portal && mkdir -p /app/var && chown -R portal /app/var
USER portal
EXPOSE 8000
# Liveness: the web process answers (no database or broker involved, so an outage of either
# does not get web restarted). Readiness, /readyz, is for load balancers and compose.
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
