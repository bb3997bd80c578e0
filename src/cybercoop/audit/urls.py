from django.urls import path

from cybercoop.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.log, name="log"),
    path("verify/", views.verify, name="verify"),
]
