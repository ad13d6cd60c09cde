"""The HTTP API, one blueprint per resource group."""

from gateway.api import auth, filing, flows, partners, people

ALL_BLUEPRINTS = (auth.blp, partners.blp, people.blp, filing.blp, flows.blp)
