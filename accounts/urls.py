from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("brokers/", views.broker_accounts, name="broker_accounts"),
    path("brokers/<int:pk>/token", views.replace_token, name="replace_token"),
]
