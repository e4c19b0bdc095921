from django.urls import path

from screeners import editor, views

app_name = "screeners"
urlpatterns = [
    path("", views.index, name="index"),
    path("new", editor.new_screen, name="new"),
    path("<slug:screener_type>", views.screener, name="screener"),
    path("<slug:screener_type>/edit", editor.edit_screen, name="edit"),
    path("<slug:screener_type>/run", views.run, name="run"),
    path("<slug:screener_type>/latest.json", views.latest, name="latest"),
]
