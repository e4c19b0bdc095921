from django.urls import path

from history import views

app_name = "history"
urlpatterns = [
    # Keys hold a colon (NSE_EQ:2885): the path converter takes them whole.
    path("<str:key>", views.chart_page, name="chart"),
]
