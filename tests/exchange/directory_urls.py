"""URLs for the directory tests: the federation's directory endpoint alone, where the node mounts it."""

from django.urls import path

from cybercoop.exchange.federation import directory_views

urlpatterns = [path("federation/v1/directory", directory_views.directory)]
