"""What `make load` runs under locust: partners using the portal, signed in.

Each simulated partner signs in through the sign-in form once, then, with no pause between
requests, opens the Developer Portal home, opens the configuration editor, previews an
edit (a help text changes, so every preview checks and compiles), and lists the org's
integrations through the REST API with an API token. `bench/load.py` starts the server,
seeds the data and passes it in through the environment; run it, not this file.
"""

from __future__ import annotations

import itertools
import json
import os

from locust import HttpUser, task

EMAIL = os.environ["LOAD_EMAIL"]
PASSWORD = os.environ["LOAD_PASSWORD"]
TOKEN = os.environ["LOAD_API_TOKEN"]
DRAFT = os.environ["LOAD_DRAFT_ID"]
STATE = json.loads(os.environ["LOAD_EDITOR_STATE"])
EDITED = next(key for key in STATE if key.endswith(".help_text"))
EDITS = itertools.count()


class Partner(HttpUser):
    def on_start(self) -> None:
        self.client.get("/signin/", name="sign in")
        token = self.client.cookies["csrftoken"]
        self.client.post(
            "/signin/",
            data={"login": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": token},
            name="sign in",
        )
        self.csrf = self.client.cookies["csrftoken"]

    @task
    def home(self) -> None:
        self.client.get("/portal/", name="home")

    @task
    def editor(self) -> None:
        self.client.get(f"/portal/integrations/{DRAFT}/configure", name="editor")

    @task
    def preview(self) -> None:
        state = STATE | {EDITED: f"Where to look, edit {next(EDITS)}"}
        self.client.post(
            f"/portal/integrations/{DRAFT}/preview",
            data={"state": json.dumps(state)},
            headers={"X-CSRFToken": self.csrf, "Accept-Encoding": "gzip"},
            name="preview",
        )

    @task
    def integrations_api(self) -> None:
        self.client.get(
            "/api/v1/integrations/",
            headers={"Authorization": f"Token {TOKEN}"},
            name="integrations API",
        )
