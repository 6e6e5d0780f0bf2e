"""What the conformance checks send: the users of each check and the wrong credentials."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from syncengine.core.compiler import CompiledIntegration
from syncengine.core.manifest.variables import collect_auth_references
from syncengine.core.types import RenderContext
from syncengine.core.users import generate_users

# Users removed (or set in_cohort false) although never added: enough to be a real
# batch, few enough to stay cheap; capped by the endpoint's batch size.
UNKNOWN_USERS_COUNT = 10
# Users in the batch that is sent twice with the same Idempotency-Key.
REPEATED_BATCH_USERS_COUNT = 3
# Users in the request sent with wrong credentials.
BAD_CREDENTIALS_USERS_COUNT = 1
# Generated users get a seed derived from the scope, so that each conformance run uses
# users no earlier run (or test run, which uses seed 0) has touched. Kept small so that
# the generated ids stay readable ("alice-482913-1").
USER_SEED_RANGE = 1_000_000
# A made-up credential: random, so it can never be the real one by accident.
WRONG_CREDENTIAL_PREFIX = "conformance-wrong-"
WRONG_CREDENTIAL_RANDOM_BYTES = 12


def check_users(
    integration: CompiledIntegration, *, add_endpoint: str, remove_endpoint: str, scope: str
) -> dict[str, list[dict[str, Any]]]:
    """Disjoint sets of generated users, one per check, from one call (unique ids).

    The seed comes from `scope`, so that each conformance run uses users of its own.
    """
    add_size = integration.batch_size(add_endpoint)
    sizes = {
        "full_batch": add_size,
        "unknown": min(UNKNOWN_USERS_COUNT, integration.batch_size(remove_endpoint)),
        "repeated": min(REPEATED_BATCH_USERS_COUNT, add_size),
        "bad_credentials": BAD_CREDENTIALS_USERS_COUNT,
    }
    digest = hashlib.sha256(scope.encode("utf-8", "surrogatepass")).digest()
    seed = int.from_bytes(digest[:8], "big") % USER_SEED_RANGE + 1
    pool = generate_users(sum(sizes.values()), seed=seed)
    groups: dict[str, list[dict[str, Any]]] = {}
    start = 0
    for name, size in sizes.items():
        groups[name] = pool[start : start + size]
        start += size
    return groups


def bad_credentials_context(
    integration: CompiledIntegration, context: RenderContext, given: RenderContext | None
) -> tuple[RenderContext | None, str]:
    """The context for the bad-credentials request and how to describe its values.

    `given` overrides `context`'s values; without it, every value the auth settings read
    is replaced by a random wrong one. Without a context to send, the text says why the
    check does not apply. `ValueError` if `given` has the real credentials.
    """
    method = _auth_method(integration.manifest)
    variables = _auth_variables(integration.manifest)
    if method == "none":
        return None, (
            "The integration uses no authentication (auth method none), so there are "
            "no credentials to get wrong."
        )
    if not variables:
        return None, (
            f"The {method} credentials are written into the configuration "
            "itself rather than read from a Connect-modal field, so an end user has no "
            "credentials to get wrong."
        )
    names = ", ".join(f"${name}" for name in variables)
    if given is not None:
        values = {**context.values, **given.values}
        if all(values.get(n) == context.values.get(n) for n in variables):
            raise ValueError(
                f"bad_credentials has the same credentials as context: give other "
                f"values for {names}"
            )
        described = f"the bad credentials supplied for {names}"
    else:
        values = dict(context.values)
        for name in variables:
            values[name] = WRONG_CREDENTIAL_PREFIX + secrets.token_hex(
                WRONG_CREDENTIAL_RANDOM_BYTES
            )
        described = f"made-up values for {names}"
    return replace(context, values=values), described


def _auth_method(manifest: Mapping[str, Any]) -> str:
    auth = manifest.get("auth")
    method = auth.get("method") if isinstance(auth, dict) else None
    return method if isinstance(method, str) and method else "none"


def _auth_variables(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """The custom-field variables the auth settings read (the credentials)."""
    declared = {
        field.get("variable")
        for field in manifest.get("custom_fields", [])
        if isinstance(field, dict)
    }
    names = [use.variable for use in collect_auth_references(manifest)]
    return tuple(name for name in dict.fromkeys(names) if name in declared)
