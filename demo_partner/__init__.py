"""A demo partner HTTP service for `make run` and the tests (see `server`)."""

from demo_partner.server import DEMO_API_KEY, DEMO_TOKEN, DemoPartner

__all__ = ["DEMO_API_KEY", "DEMO_TOKEN", "DemoPartner"]
