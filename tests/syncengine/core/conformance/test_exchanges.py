"""Each request of a conformance run is sent once, recorded, and shown masked."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_httpserver import HTTPServer

from syncengine.core.compiler import compile_manifest
from syncengine.core.conformance.exchanges import ExchangeRecorder, sentence
from syncengine.core.http import OutboundClient
from syncengine.core.masking import MASK
from syncengine.core.types import RenderContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN = "tok-exchange-51c7"
WRONG = "conformance-wrong-0a1b"


def recorder_for(base: str, client: OutboundClient) -> ExchangeRecorder:
    text = (FIXTURES / "conformance_list.json").read_text()
    integration = compile_manifest(json.loads(text.replace("http://partner.invalid", base)))
    return ExchangeRecorder(integration, client, signing_secret=None, secrets=(TOKEN, WRONG))


def test_a_failing_request_is_sent_once_and_explained(httpserver: HTTPServer):
    httpserver.expect_request("/v1/lists").respond_with_data("down", status=503)
    with OutboundClient(allow_private_networks=True) as client:
        recorder = recorder_for(httpserver.url_for("").rstrip("/"), client)
        request = recorder.integration.build_request(
            "create_list", context=RenderContext(values={"bearer_token": TOKEN})
        )
        exchange = recorder.send("create_list", request)
    assert len(httpserver.log) == 1
    assert (exchange.status, exchange.accepted) == (503, False)
    assert exchange.diagnosis is not None and exchange.diagnosis.action == "retry"
    assert recorder.exchanges == [exchange]
    assert exchange.short().startswith("503 ")
    assert exchange.short().endswith(f" in {exchange.response.latency_ms:.0f} ms")


def test_an_exchange_is_shown_with_every_secret_of_the_run_masked(httpserver: HTTPServer):
    httpserver.expect_request("/v1/lists").respond_with_json({"echo": WRONG, "data": {"id": 1}})
    with OutboundClient(allow_private_networks=True) as client:
        recorder = recorder_for(httpserver.url_for("").rstrip("/"), client)
        # The request itself only knows its own secret, not the run's other ones.
        request = recorder.integration.build_request(
            "create_list", context=RenderContext(values={"bearer_token": TOKEN})
        )
        shown = json.dumps(
            recorder.display(recorder.send(f"label {TOKEN}", request)), ensure_ascii=False
        )
    assert TOKEN not in shown and WRONG not in shown
    assert MASK in shown


def test_details_end_like_sentences():
    assert sentence(" no answer ") == "no answer."
    assert sentence("Done!") == "Done!"
