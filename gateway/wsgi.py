"""WSGI entry point: ``gunicorn -c gateway/gunicorn.conf.py gateway.wsgi:app``."""

import warnings

# Nameko (imported for its error types) imports eventlet, which warns at import; the
# gateway runs threads and does not use eventlet.
warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

from gateway.app import create_app  # noqa: E402
from services.common.logs import configure_logging  # noqa: E402

configure_logging("gateway")
app = create_app()
