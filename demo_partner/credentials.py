"""The credentials the demo partner accepts (its page, the server and the manifests)."""

DEMO_TOKEN = "demo-token"
DEMO_API_KEY = "demo-key"
