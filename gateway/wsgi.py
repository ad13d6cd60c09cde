"""WSGI entry point: ``gunicorn -c gateway/gunicorn.conf.py gateway.wsgi:app``."""

from gateway.app import create_app
from services.common.logs import configure_logging

configure_logging("gateway")
app = create_app()
