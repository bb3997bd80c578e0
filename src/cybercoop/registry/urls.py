from django.urls import path

from cybercoop.registry import views

app_name = "registry"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("instruments/new/", views.instrument_new, name="instrument_new"),
    path("instruments/<slug:code>/", views.instrument, name="instrument"),
    path("instruments/<slug:code>/events/", views.record_event, name="record_event"),
    path("instruments/<slug:code>/original/", views.store_original, name="store_original"),
    path("instruments/<slug:code>/original.pdf", views.download_original, name="original"),
    path("instruments/<slug:code>/copies/", views.record_copy, name="record_copy"),
    path("instruments/<slug:code>/copies/<int:copy_id>.pdf", views.download_copy, name="copy"),
    path("designations/", views.designations, name="designations"),
    path("announcements/", views.announcements, name="announcements"),
    path("announcements/<int:acknowledgement_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("parties/", views.party_list, name="parties"),
    path("parties/<str:code>/", views.party_profile, name="party"),
    path("parties/<str:code>/bodies/new/", views.body_new, name="body_new"),
]
