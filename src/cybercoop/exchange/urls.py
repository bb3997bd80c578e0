from django.urls import path

from cybercoop.exchange import views

app_name = "exchange"
urlpatterns = [
    path("outgoing/", views.outgoing, name="outgoing"),
    path("outgoing/<int:item_id>/", views.outgoing_item, name="outgoing_item"),
    path("outgoing/<int:item_id>/retry/", views.retry, name="retry"),
    path("incoming/", views.incoming, name="incoming"),
]
