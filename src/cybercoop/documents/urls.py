from django.urls import path

from cybercoop.documents import views

app_name = "documents"
urlpatterns = [
    path("second-factor/", views.second_factor, name="second_factor"),
]
