from django.urls import path

from cybercoop.accounts import views

app_name = "accounts"
urlpatterns = [
    path("sign-in/", views.SignInView.as_view(), name="sign_in"),
    path("sign-in/code/", views.sign_in_code, name="sign_in_code"),
    path("sign-in/enrol/", views.sign_in_enrol, name="sign_in_enrol"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("language/", views.set_language, name="set_language"),
    path("second-factor/", views.second_factor, name="second_factor"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read-all/", views.read_all_notifications, name="read_all_notifications"),
    path("notifications/<int:notification_id>/read/", views.read_notification, name="read_notification"),
]
