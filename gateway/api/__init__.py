"""The HTTP API, one blueprint per resource group."""

from gateway.api import auth, partners, people

ALL_BLUEPRINTS = (auth.blp, partners.blp, people.blp)
