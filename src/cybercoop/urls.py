"""The node's URL map: each domain's pages, the API and the federation endpoint."""

from django.urls import include, path

from cybercoop.api import api
from cybercoop.registry import views as registry_views

handler400 = "cybercoop.core.views.bad_request"
handler403 = "cybercoop.core.views.permission_denied"
handler404 = "cybercoop.core.views.page_not_found"
handler500 = "cybercoop.core.views.server_error"

urlpatterns = [
    path("", include("cybercoop.core.urls")),
    path("accounts/", include("cybercoop.accounts.urls")),
    path("audit/", include("cybercoop.audit.urls")),
    path("registry/", include("cybercoop.registry.urls")),
    path("cases/", include("cybercoop.assistance.urls")),
    path("deliveries/", include("cybercoop.exchange.urls")),
    path("documents/", include("cybercoop.documents.urls")),
    path("public/", registry_views.public_status, name="public"),
    path("api/v1/", api.urls),
    path("federation/v1/", include("cybercoop.exchange.federation.urls")),
]
