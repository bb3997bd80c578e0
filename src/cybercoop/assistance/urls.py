"""The request screens under /cases/: the lists, drafting, a case, one endpoint per action, attachments."""

from django.urls import path

from cybercoop.assistance import views

app_name = "assistance"
urlpatterns = [
    path("incoming/", views.inbox, name="inbox"),
    path("outgoing/", views.outbox, name="outbox"),
    path("new/", views.new, name="new"),
    path("<uuid:case_id>/", views.case_detail, name="case"),
    path("<uuid:case_id>/edit/", views.edit, name="edit"),
    path("<uuid:case_id>/attachments/<uuid:attachment_id>/", views.attachment, name="attachment"),
    path("<uuid:case_id>/assignments/", views.assign, name="assign"),
    path("<uuid:case_id>/release/", views.release, name="release"),
    path("<uuid:case_id>/assignments/withdraw/", views.withdraw, name="withdraw"),
    # One POST endpoint per action, named after it: "assistance:receipt", "assistance:refuse" …
    *(path(f"<uuid:case_id>/{slug}/", views.act, {"action": slug}, name=slug) for slug in views.ACTIONS),
]
