from django.urls import path

from reviews.api import views

urlpatterns = [
    path(
        "integrations/<int:integration_id>/submit",
        views.SubmitView.as_view(),
        name="api_integration_submit",
    ),
    path(
        "integrations/<int:integration_id>/withdraw",
        views.WithdrawView.as_view(),
        name="api_integration_withdraw",
    ),
    path("reviews/", views.ReviewQueueView.as_view(), name="api_reviews"),
    path("reviews/<int:version_id>/", views.ReviewDetailView.as_view(), name="api_review"),
    path(
        "reviews/<int:version_id>/comments",
        views.CommentsView.as_view(),
        name="api_review_comments",
    ),
    path(
        "reviews/<int:version_id>/approve",
        views.DecisionView.as_view(decision="approve"),
        name="api_review_approve",
    ),
    path(
        "reviews/<int:version_id>/request-changes",
        views.DecisionView.as_view(decision="request-changes"),
        name="api_review_request_changes",
    ),
    path(
        "reviews/<int:version_id>/reject",
        views.DecisionView.as_view(decision="reject"),
        name="api_review_reject",
    ),
    path("reviews/<int:version_id>/assign", views.AssignView.as_view(), name="api_review_assign"),
    path(
        "reviews/<int:version_id>/rerun-test",
        views.RerunTestView.as_view(),
        name="api_review_rerun_test",
    ),
    path(
        "reviews/<int:version_id>/conformance",
        views.ConformanceView.as_view(),
        name="api_review_conformance",
    ),
]
