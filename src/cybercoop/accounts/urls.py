from django.urls import path

from cybercoop.accounts import views

app_name = "accounts"
urlpatterns = [
    path("sign-in/", views.SignInView.as_view(), name="sign_in"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("language/", views.set_language, name="set_language"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read-all/", views.read_all_notifications, name="read_all_notifications"),
    path("notifications/<int:notification_id>/read/", views.read_notification, name="read_notification"),
]
