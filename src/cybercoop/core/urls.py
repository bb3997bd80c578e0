from django.urls import path

from cybercoop.core import views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("rules/", views.rules, name="rules"),
    path("health/", views.health, name="health"),
]
