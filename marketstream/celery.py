"""The Celery app. Stream tasks go to the `streams` queue, served by a thread pool:
    celery -A marketstream worker -Q streams,celery -P threads -c 8
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")

app = Celery("marketstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["marketstream"])
