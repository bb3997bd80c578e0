"""The node's URL map: each domain's pages, the API and (later) the federation endpoint."""

from django.urls import include, path

from cybercoop.api import api

handler400 = "cybercoop.core.views.bad_request"
handler403 = "cybercoop.core.views.permission_denied"
handler404 = "cybercoop.core.views.page_not_found"
handler500 = "cybercoop.core.views.server_error"

urlpatterns = [
    path("", include("cybercoop.core.urls")),
    path("accounts/", include("cybercoop.accounts.urls")),
    path("audit/", include("cybercoop.audit.urls")),
    path("api/v1/", api.urls),
]
