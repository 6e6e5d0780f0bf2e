"""The Prometheus endpoint of cohort syncs (included by portal/urls.py at /metrics)."""

from django.urls import path

from syncs.metrics import metrics_view

urlpatterns = [path("", metrics_view, name="metrics")]
