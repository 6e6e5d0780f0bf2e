"""Run the demo partner: `python -m demo_partner --host 127.0.0.1 --port 8765`."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from demo_partner.server import DEMO_API_KEY, DEMO_TOKEN, DemoPartner

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m demo_partner", description="A demo partner API for cohort syncs."
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)"
    )
    parser.add_argument(
        "--signing-secret",
        default=None,
        help="verify X-Signature on every API request with this secret",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s demo-partner %(levelname)s %(message)s",
    )
    log = logging.getLogger("demo_partner")
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            # It has no real authentication on its control endpoints.
            log.warning("binding %s: the demo partner is meant for loopback only", args.host)
    except ValueError:
        pass

    partner = DemoPartner(args.host, args.port, signing_secret=args.signing_secret)
    try:
        partner.bind()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    # The URL line is what `make run` and the CLI test read to find the port.
    log.info(
        "listening on %s (auth: Bearer %s or X-API-Key %s)", partner.url, DEMO_TOKEN, DEMO_API_KEY
    )
    try:
        partner.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
