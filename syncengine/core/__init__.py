"""The sync engine's pure core.

Nothing in this package imports Django: template parsing, validation and rendering,
batching, diffing, the outbound HTTP client and the list/property sync protocol live here
so that they can be unit-tested and benchmarked without a database. A test enforces the
rule, and so do the import contracts that `make lint` checks (pyproject.toml).

Its modules form layers; each imports only from the layers below it:

- `conformance`: the checks a reviewer sees before approving;
- `preview`, `protocol`, `tracker`: live previews, the sync protocol, the variable tracker;
- `delivery`: delivering one planned batch (lookups, creates, per-user requests) and
  creating or finding a list: the entry point syncs, test runs and conformance share;
- `retry`: trying a request again, and when (or deferring a long wait);
- `compiler`, `diagnosis`, `http`: building requests, explaining failures, sending;
- `rendering`: the compiled templates of one request, and what users' values become;
- `manifest`, `responses`, `transport`: the manifest's schema, normalisation and checks;
  reading list ids and partner ids out of answers; the SSRF guard;
- `errors`: `PartnerError` and the other records of a partner call;
- `display`, `masking`: what is shown of a call, with every secret masked;
  `json_depth`: how deeply JSON may nest where it enters;
- `template`, `nul`: the template language; finding the NUL character;
- `diagnostic_codes`, `jsonpath`, `manifest_diff`, `signing`, `slugify`, `types`, `users`.
"""

import sys

# httpx imports its command-line client (click, rich and pygments: a few hundred ms) whenever
# those packages happen to be installed, and nothing here uses it. A None entry makes that
# import fail at once; httpx expects the failure and falls back to a stub `main`.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
