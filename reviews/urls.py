from django.urls import path

from reviews import views

DRAFT = "portal/integrations/<int:integration_id>/"

urlpatterns = [
    # the partner's Submit page (step 4 of a draft)
    path(DRAFT + "submit", views.integration_submit_page, name="integration_submit"),
    path(DRAFT + "submit/send", views.integration_submit_post, name="integration_submit_post"),
    path(DRAFT + "withdraw", views.integration_withdraw_post, name="integration_withdraw_post"),
    # reviews (reviewers; partners see their own versions)
    path("review/", views.review_queue_page, name="review_queue"),
    path("review/<int:version_id>/", views.review_detail, name="review_detail"),
    path("review/<int:version_id>/comment", views.review_comment_post, name="review_comment"),
    path("review/<int:version_id>/checks", views.review_checks, name="review_checks"),
    path(
        "review/<int:version_id>/checks/start",
        views.review_checks_start,
        name="review_checks_start",
    ),
    path("review/<int:version_id>/decide", views.review_decide, name="review_decide"),
    path("review/<int:version_id>/assign", views.review_assign_post, name="review_assign"),
]
