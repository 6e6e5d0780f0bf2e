from django.urls import path

from integrations import views

urlpatterns = [
    path("portal/", views.portal_home, name="portal_home"),
]
