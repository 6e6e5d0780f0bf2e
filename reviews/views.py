"""Pages of the review side: the partner's Submit page (release and submit), the review
page that reviewers and the partner share, and the reviewers' queue."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, Protocol

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from integrations import access
from integrations.configuration import validation_report
from integrations.editor.panel import section_keys, testing_panel
from integrations.manifests import config_fingerprint, manifest_of
from integrations.models import Integration, IntegrationVersion, VersionKind, VersionState
from portal.access import (
    DeveloperRequest,
    SignedInRequest,
    StaffRequest,
    View,
    developer_required,
    is_signed_in,
    staff_required,
)
from portal.errors import ActionError
from portal.models import Organization, User
from portal.params import local_url, parse_id
from portal.views.pages import paginate, query_without_page
from reviews import decisions, selectors, submissions
from reviews.checks import conformance_start, review_rerun_test, reviewer_entered_values
from reviews.models import ReviewComment
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.models import TestRun
from syncengine.presenters import step_progress
from syncengine.selectors import passing_full_test, test_settings_for

QUEUE_PAGE_SIZE = 25


# --- the partner's side -------------------------------------------------------------------


def credentials_shared(integration: Integration) -> bool:
    stored = test_settings_for(integration)
    return bool(stored.pk and stored.share_with_reviewers and stored.values)


def submit_checklist(integration: Integration) -> list[dict[str, Any]]:
    """What submitting needs, each with whether it is done and where to fix it."""
    report = validation_report(manifest_of(integration))
    passing = passing_full_test(integration)
    return [
        {
            "done": report["valid"],
            "label": "The configuration has no errors",
            "detail": (
                f"{report['error_count']} error(s) to fix"
                if not report["valid"]
                else f"{report['warning_count']} warning(s)"
                if report["warning_count"]
                else "No problems"
            ),
            "fix": ("integration_editor", "Open the configuration"),
        },
        {
            "done": integration.logo_id is not None,
            "label": "A PNG logo is uploaded",
            "detail": "It is the Destination tile",
            "fix": ("integration_tile", "Upload a logo"),
        },
        {
            "done": passing is not None,
            "label": "A full test passed on exactly this configuration",
            "detail": (
                f"Test #{passing.pk} passed {passing.finished_at:%Y-%m-%d %H:%M}"
                if passing
                else "Tests run before your latest edit no longer count"
            ),
            "fix": ("integration_test", "Run a full test"),
        },
    ]


@require_GET
@developer_required
def integration_submit_page(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    checklist = submit_checklist(integration)
    versions = integration.versions.select_related("created_by", "decided_by")
    in_review = versions.filter(state=VersionState.IN_REVIEW).first()
    latest_submission = versions.filter(kind=VersionKind.SUBMISSION).first()
    internal = integration.destinations.filter(channel="internal").select_related("version").first()
    return render(
        request,
        "reviews/submit.html",
        {
            "integration": integration,
            "checklist": checklist,
            "ready": all(item["done"] for item in checklist),
            "can_submit": integration.status in submissions.CAN_SUBMIT,
            "in_review": in_review,
            "expected_by": in_review.expected_review_by if in_review else None,
            "latest_submission": latest_submission,
            "internal": internal,
            "versions": versions,
            "draft_changed": (
                latest_submission is not None
                and latest_submission.fingerprint != config_fingerprint(integration)
            ),
            "credentials_shared": credentials_shared(integration),
            "approved_twin": submissions.approved_twin(integration),
        },
    )


def lifecycle_post(
    request: DeveloperRequest,
    integration_id: int,
    action: Callable[[DeveloperRequest, Integration], object],
    success: str,
) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    try:
        action(request, integration)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return redirect("integration_submit", integration.pk)


@require_POST
@developer_required
def integration_submit_post(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    return lifecycle_post(
        request,
        integration_id,
        lambda r, i: submissions.integration_submit(
            acting_user=r.user, integration=i, note=r.POST.get("note", "")
        ),
        "Submitted. The integrations team will review it; you will be emailed their decision.",
    )


@require_POST
@developer_required
def integration_withdraw_post(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    return lifecycle_post(
        request,
        integration_id,
        lambda r, i: submissions.integration_withdraw(acting_user=r.user, integration=i),
        "Submission withdrawn; the draft is yours to change.",
    )


# --- the review page (reviewers, and the partner for their own versions) ------------------


def reviewer_or_developer_required[**P](
    view: Callable[Concatenate[SignedInRequest, P], HttpResponseBase],
) -> View[P]:
    """Review pages: reviewers see every version; anyone else is on the partner side, which
    is part of the Developer Portal, so `developer_required` decides (and explains a 403)."""
    as_developer = developer_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if is_signed_in(request) and request.user.is_reviewer:
            return view(request, *args, **kwargs)
        return as_developer(request, *args, **kwargs)

    return wrapper


def _version_for(request: SignedInRequest, version_id: int) -> IntegrationVersion:
    return access.get_version(request.user, request.membership, version_id)


EVIDENCE_EXCHANGES = 100
REVIEWER_RUNS_SHOWN = 3


def _checks_context(
    request: SignedInRequest, version: IntegrationVersion, *, error: str = ""
) -> dict[str, Any]:
    """The evidence around a version: the partner's passing test, the reviewer's re-runs
    and the latest conformance checks (and whether any of them is still running)."""
    evidence = (
        TestRun.objects.filter(pk=version.test_run_id).select_related("started_by").first()
        if version.test_run_id
        else None
    )
    reviewer_runs = list(
        TestRun.objects.filter(version_id=version.pk).select_related("started_by")[
            :REVIEWER_RUNS_SHOWN
        ]
    )
    runs = [run for run in [evidence, *reviewer_runs] if run is not None]
    conformance = version.conformance_runs.select_related("started_by").first()
    fields = [f for f in version.config.get("custom_fields", []) if isinstance(f, dict)]
    kept = reviewer_entered_values(version, request.user) if request.user.is_reviewer else {}
    return {
        "version": version,
        "evidence": evidence,
        "reviewer_runs": reviewer_runs,
        "conformance": conformance,
        "run_steps": {run.pk: step_progress(run) for run in runs},
        "run_exchanges": {run.pk: list(run.exchanges.all()[:EVIDENCE_EXCHANGES]) for run in runs},
        "credentials_shared": credentials_shared(version.integration),
        "credential_fields": [
            {
                "variable": f.get("variable"),
                "label": f.get("display_name") or f.get("variable"),
                "secret": bool(f.get("secret")),
                # A secret is never sent back to the page: its field says it is kept.
                "value": "" if f.get("secret") else kept.get(str(f.get("variable")), ""),
                "kept": str(f.get("variable")) in kept,
            }
            for f in fields
        ],
        "polling": (
            any(not run.is_finished for run in reviewer_runs)
            or (conformance is not None and not conformance.is_finished)
        ),
        "decidable": request.user.is_reviewer
        and version.kind == VersionKind.SUBMISSION
        and version.state == VersionState.IN_REVIEW,
        "checks_error": error,
    }


def replies_by_parent(comments: list[ReviewComment]) -> dict[int, list[ReviewComment]]:
    """Each comment's replies, oldest first, under the id of the comment they answer."""
    replies: dict[int, list[ReviewComment]] = {}
    for comment in comments:
        if comment.parent_id is not None:
            replies.setdefault(comment.parent_id, []).append(comment)
    return replies


def _review_context(request: SignedInRequest, version: IntegrationVersion) -> dict[str, Any]:
    manifest = normalize_manifest(manifest_of(version))
    comments = list(version.comments.select_related("author"))
    panel = testing_panel(manifest)
    return {
        **_checks_context(request, version),
        "version": version,
        "integration": version.integration,
        "is_reviewer": request.user.is_reviewer,
        "panel": panel,
        # The panel shows the version's name and logo (detail.html sets integration=version).
        "section_keys": section_keys(
            panel, name=version.display_name, logo_url=version.tile_logo_url
        ),
        "diff": selectors.version_diff(version),
        "comments": [c for c in comments if c.parent_id is None],
        "earlier_comments": ReviewComment.objects.filter(
            version__integration_id=version.integration_id, version__number__lt=version.number
        )
        .select_related("author", "version")
        .order_by("created_at", "id"),
        "replies": replies_by_parent(comments),
        "expected_by": version.expected_review_by,
        "reviewers": (
            User.objects.filter(staff_role__in=["reviewer", "platform_admin"]).order_by("email")
            if request.user.is_reviewer
            else []
        ),
    }


@require_GET
@reviewer_or_developer_required
def review_detail(request: SignedInRequest, version_id: int) -> HttpResponse:
    version = _version_for(request, version_id)
    return render(request, "reviews/detail.html", _review_context(request, version))


@require_GET
@reviewer_or_developer_required
def review_checks(request: SignedInRequest, version_id: int) -> HttpResponse:
    """The checks' results alone, polled while a run is in progress (the form above them
    is never replaced, so what a reviewer typed there stays)."""
    version = _version_for(request, version_id)
    context = {**_checks_context(request, version), "oob": True}
    return render(request, "reviews/_checks_results.html", context)


@require_POST
@staff_required()
def review_checks_start(request: StaffRequest, version_id: int) -> HttpResponse:
    version = _version_for(request, version_id)
    values = {
        key.removeprefix("values."): value
        for key, value in request.POST.items()
        if key.startswith("values.") and value
    }
    error = ""
    try:
        if request.POST.get("check") == "test":
            review_rerun_test(acting_user=request.user, version=version, values=values)
        else:
            conformance_start(acting_user=request.user, version=version, values=values)
    except ActionError as refused:
        error = refused.message
    context = {**_checks_context(request, version, error=error), "oob": True}
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(reverse("review_detail", args=[version.pk]) + "#review-checks")
    return render(request, "reviews/_checks_results.html", context)


@require_POST
@reviewer_or_developer_required
def review_comment_post(request: SignedInRequest, version_id: int) -> HttpResponse:
    version = _version_for(request, version_id)
    parent = None
    if parent_id := request.POST.get("parent"):
        # A reply to a comment that cannot exist is refused, not posted as a new thread.
        number = parse_id(parent_id)
        if number is None:
            raise Http404("No such comment to reply to.")
        parent = get_object_or_404(ReviewComment, version=version, pk=number)
    try:
        decisions.review_comment(
            acting_user=request.user,
            version=version,
            body=request.POST.get("body", ""),
            parent=parent,
        )
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Comment posted.")
    return redirect(reverse("review_detail", args=[version.pk]) + "#thread")


class ReviewDecision(Protocol):
    def __call__(
        self, *, acting_user: User, version: IntegrationVersion, message: str
    ) -> IntegrationVersion: ...


DECISIONS: dict[str, tuple[ReviewDecision, str]] = {
    "approve": (
        decisions.review_approve,
        "Approved and deployed to the partner's Destinations page.",
    ),
    "request_changes": (
        decisions.review_request_changes,
        "Changes requested; the partner was emailed.",
    ),
    "reject": (decisions.review_reject, "Rejected; the partner was emailed."),
}


@require_POST
@staff_required()
def review_decide(request: StaffRequest, version_id: int) -> HttpResponse:
    version = _version_for(request, version_id)
    decision = DECISIONS.get(request.POST.get("decision", ""))
    if decision is None:
        messages.error(request, "Choose approve, request changes or reject.")
        return redirect("review_detail", version.pk)
    action, success = decision
    try:
        action(acting_user=request.user, version=version, message=request.POST.get("message", ""))
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return redirect("review_detail", version.pk)


@require_POST
@staff_required()
def review_assign_post(request: StaffRequest, version_id: int) -> HttpResponse:
    version = _version_for(request, version_id)
    email = request.POST.get("reviewer", "")
    reviewer = User.objects.filter(email__iexact=email).first() if email else None
    try:
        if email and reviewer is None:
            raise ActionError(f"No account has the email {email}.")
        decisions.review_assign(acting_user=request.user, version=version, reviewer=reviewer)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Assigned to {reviewer.email}." if reviewer else "Unassigned.")
    # Assigning from the queue returns to the queue; only local paths are followed.
    if back := local_url(request, request.POST.get("back")):
        return redirect(back)
    return redirect("review_detail", version.pk)


# --- the reviewers' queue -----------------------------------------------------------------


@require_GET
@staff_required()
def review_queue_page(request: StaffRequest) -> HttpResponse:
    state = request.GET.get("state", VersionState.IN_REVIEW)
    if state not in VersionState.values or state == VersionState.INTERNAL:
        state = VersionState.IN_REVIEW
    assigned = request.GET.get("assigned", "any")
    # Both filters come from select boxes: a value they never offer is ignored, like `state`.
    org_id = parse_id(request.GET.get("org"))
    age = parse_id(request.GET.get("older_than_days"), maximum=selectors.MAX_REVIEW_AGE_DAYS)
    rows = selectors.review_queue(
        state=state,
        org_id=org_id,
        older_than_days=age,
        assigned_to={"me": request.user, "unassigned": None}.get(assigned, "any"),
    )
    return render(
        request,
        "reviews/queue.html",
        {
            "page": paginate(request, rows, per_page=QUEUE_PAGE_SIZE),
            "query": query_without_page(request),
            "state": state,
            "assigned": assigned,
            "org_id": "" if org_id is None else str(org_id),
            "age": "" if age is None else str(age),
            "states": [
                (v, label) for v, label in VersionState.choices if v != VersionState.INTERNAL
            ],
            "orgs": Organization.objects.filter(integrations__versions__kind=VersionKind.SUBMISSION)
            .distinct()
            .order_by("name"),
            "in_review_total": selectors.review_queue(state=VersionState.IN_REVIEW).count(),
        },
    )
