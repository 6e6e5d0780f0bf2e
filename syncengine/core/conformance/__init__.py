"""Automated conformance checks: the checklist a reviewer sees before approving.

`run_conformance` talks to the partner's real endpoint the way a sync would (the same
compiled requests, the same client, batch ids and `Idempotency-Key`s from the protocol
helpers) and answers six questions, each as a `CheckResult`:

1. `list_id_at_path`: create_list returns an id at `list_id_path` (list-based only);
2. `full_batch_accepted`: the add endpoint (update_users for property-based) accepts a
   batch of exactly `batch_size` users;
3. `unknown_users_accepted`: removing users who are not on the list (property-based:
   `$in_cohort` false for users never added) does not fail;
4. `bad_credentials_refused`: wrong credentials get 401 (403 accepted, with a note);
5. `repeated_idempotency_key_accepted`: the same batch sent twice with the same
   `Idempotency-Key` is accepted both times;
6. `latency_within_limit`: every response of the checks above arrived within the limit.

Every request is sent once (`RetryPolicy.none()`): the checks are about how the partner
behaves, and retries would hide exactly what they look for. A partner that misbehaves,
answers nonsense or cannot be reached never makes this module raise: the check fails
with a plain-language detail. Checks are independent where they can be; the ones that
need the list fail with "not checked" when create_list gave no list id, so that an
unverified check can never read as passed.

Every text and exchange in a result is masked: the real credentials, the wrong ones sent
on purpose, and the signing secret never appear in clear.

- `results`: `CheckResult`, the check keys and statuses (what is stored and shown);
- `inputs`: the generated users of each check and the wrong credentials;
- `exchanges`: sending each request once, timing it and showing it masked;
- `checks`: `run_conformance` and the six checks themselves.
"""
