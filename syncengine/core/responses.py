"""Reading what a partner's answer says: a new list's id, and users' partner ids.

- `read_list_id`: the id at create_list's `list_id_path` (and at a find request's);
- `find_list`: the list whose name matches among a find request's results (version 2);
- `read_partner_ids`: each user's id among a lookup's or create's results (version 2),
  matched by key, never by position: partners answer in their own order and leave out
  whom they do not know.

An answer that does not have the shape the manifest describes is a permanent
`PartnerError` saying where it looked and what it found, so that the partner can fix the
manifest (or the answer) from the message alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncengine.core import jsonpath
from syncengine.core.errors import PartnerError, PartnerResponse

RESPONSE_EXCERPT_CHARS = 300


def _excerpt(response: PartnerResponse) -> str:
    excerpt = response.text[:RESPONSE_EXCERPT_CHARS]
    if len(response.text) > RESPONSE_EXCERPT_CHARS:
        excerpt += "…"
    return excerpt or "(empty body)"


def _usable_id(value: Any) -> str | None:
    """An id as text, or None when the value is no id (empty, boolean, object...)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _shown(value: Any) -> str:
    return repr(value) if not isinstance(value, dict | list) else type(value).__name__


def read_list_id(response: PartnerResponse, path: str, *, endpoint: str = "create_list") -> str:
    """The list id at `path` in the JSON response.

    Raises `PartnerError` kind `non_json` when the body is not JSON, and `list_id_missing`
    (saying where it looked and what the response had) when nothing usable is there.
    """
    document = response.json()
    try:
        value = jsonpath.lookup(document, path)
    except jsonpath.PathNotFound as missing:
        raise _list_id_missing(
            response, path, f"{missing.reason} at {missing.where or 'the top level'}", endpoint
        ) from None
    except jsonpath.PathSyntaxError as bad:
        raise _list_id_missing(response, path, f"the path is not valid: {bad}", endpoint) from None
    list_id = _usable_id(value)
    if list_id is None:
        raise _list_id_missing(
            response, path, f"the value there is {_shown(value)}, not a text or number id", endpoint
        )
    return list_id


def _list_id_missing(response: PartnerResponse, path: str, why: str, endpoint: str) -> PartnerError:
    info: dict[str, Any] = {"path": path, "endpoint": endpoint}
    hint = ""
    try:
        found = jsonpath.suggest_id_path(response.json(), besides=path)
    except PartnerError:
        found = None
    if found is not None:
        info["suggested_path"], value = found
        hint = (
            f" An id-looking value, {value!r}, is at {info['suggested_path']!r}: if that is "
            f"the list's id, set list_id_path to {info['suggested_path']}."
        )
    return PartnerError(
        "list_id_missing",
        f"{endpoint} answered {response.status}, but no list id was found at "
        f"list_id_path {path!r}: {why}.{hint} The response was: {_excerpt(response)}",
        permanent=True,
        status=response.status,
        response=response,
        request=response.request,
        info=info,
    )


def _results(response: PartnerResponse, document: Any, results_path: str, name: str) -> Any:
    try:
        results = jsonpath.lookup(document, results_path)
    except (jsonpath.PathNotFound, jsonpath.PathSyntaxError) as missing:
        raise PartnerError(
            "results_missing",
            f"{name} answered {response.status}, but no results were found at results_path "
            f"{results_path!r}: {missing}. The response was: {_excerpt(response)}",
            permanent=True,
            status=response.status,
            response=response,
            request=response.request,
            info={"path": results_path},
        ) from None
    if not isinstance(results, list | dict):
        raise PartnerError(
            "results_missing",
            f"{name} answered {response.status}, but results_path {results_path!r} holds "
            f"{_shown(results)}, not a list or an object of results",
            permanent=True,
            status=response.status,
            response=response,
            request=response.request,
            info={"path": results_path},
        )
    return results


def _at(document: Any, path: str | None) -> Any:
    if path is None:
        return document
    try:
        return jsonpath.lookup(document, path)
    except (jsonpath.PathNotFound, jsonpath.PathSyntaxError):
        return None


def matching_key(text: str, *, ignore_case: bool) -> str:
    """How a key is compared: as is, or case-folded (emails, say)."""
    return text.casefold() if ignore_case else text


def read_partner_ids(
    response: PartnerResponse,
    *,
    name: str,
    results_path: str | None,
    result_key_path: str | None,
    partner_id_path: str,
    ignore_case: bool,
    only_key: str | None = None,
    ignored: bool = False,
) -> dict[str, str]:
    """Partner ids by (matching) key, read from a lookup's or create's answer.

    With `results_path`, the results are an array (each element's key at
    `result_key_path`) or an object keyed by the users' keys; without it, the whole body
    is the result for `only_key` (a request sent per user). A result without a usable id
    at `partner_id_path` means "not found". An answer the endpoint's classifications
    `ignored` (a 404 meaning "none of them", say) finds nobody unless it has results.
    """
    if ignored:
        try:
            document = response.json()
        except PartnerError:
            return {}
        if results_path is not None and _at(document, results_path) is None:
            return {}
    else:
        document = response.json()
    found: dict[str, str] = {}
    if results_path is None:
        partner_id = _usable_id(_at(document, partner_id_path))
        if only_key is not None and partner_id is not None:
            found[matching_key(only_key, ignore_case=ignore_case)] = partner_id
        return found
    results = _results(response, document, results_path, name)
    if isinstance(results, list) and result_key_path is None:
        raise PartnerError(
            "results_unmatched",
            f"{name}'s results at {results_path!r} are a list: set result_key_path to where "
            "each result has the key it was looked up by (e.g. email), so that results are "
            "matched to users by key rather than by position",
            permanent=True,
            status=response.status,
            response=response,
            request=response.request,
        )
    entries: list[tuple[Any, Any]]
    if isinstance(results, Mapping) and result_key_path is None:
        entries = list(results.items())
    else:
        members = results.values() if isinstance(results, Mapping) else results
        entries = [(_at(member, result_key_path), member) for member in members]
    for key, member in entries:
        if isinstance(key, bool) or not isinstance(key, str | int):
            continue
        partner_id = _usable_id(_at(member, partner_id_path))
        if partner_id is not None:
            found.setdefault(matching_key(str(key), ignore_case=ignore_case), partner_id)
    return found


def find_list(
    response: PartnerResponse,
    *,
    name: str,
    list_id_path: str,
    results_path: str | None,
    match_path: str | None,
    match: str | None,
    ignore_case: bool,
) -> str | None:
    """The found list's id, or None when the answer has no list by that name.

    Without `results_path` the answer is the list itself (its id at `list_id_path`);
    with it, the list is the result whose value at `match_path` equals `match`, and
    `list_id_path` is read inside that result.
    """
    if results_path is None:
        return read_list_id(response, list_id_path, endpoint=name)
    document = response.json()
    results = _results(response, document, results_path, name)
    members = results.values() if isinstance(results, Mapping) else results
    wanted = matching_key(match or "", ignore_case=ignore_case)
    for member in members:
        found = _at(member, match_path)
        if isinstance(found, str) and matching_key(found, ignore_case=ignore_case) == wanted:
            list_id = _usable_id(_at(member, list_id_path))
            if list_id is None:
                raise _list_id_missing(
                    response,
                    list_id_path,
                    f"the list named {match!r} has {_shown(_at(member, list_id_path))} there",
                    name,
                )
            return list_id
    return None
