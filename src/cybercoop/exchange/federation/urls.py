"""The federation endpoint's URLs, mounted at /federation/v1/ (docs/federation.md)."""

from __future__ import annotations

from django.urls import URLPattern, path

from cybercoop.exchange.federation import directory_views, views

app_name = "federation"

urlpatterns: list[URLPattern] = [
    path("messages", views.messages, name="messages"),
    path("node", views.node_info, name="node"),
    path("ping", views.ping, name="ping"),
    path("attachments/<str:sha256>", views.attachment, name="attachment"),
    path("directory", directory_views.directory, name="directory"),
]
