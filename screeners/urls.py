from django.urls import path

from screeners import views

app_name = "screeners"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:screener_type>", views.screener, name="screener"),
]
