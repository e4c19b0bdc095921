from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alerts_page, name="alerts"),
    path("<int:pk>/delete", views.delete_alert, name="delete"),
]
