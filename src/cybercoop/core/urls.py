from django.urls import path

from cybercoop.core import views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("rules/", views.rules, name="rules"),
    path("glossary/", views.glossary, name="glossary"),
    path("health/", views.health, name="health"),
]
