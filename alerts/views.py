"""`/alerts/`: the signed-in user's alerts, a form to make one (prefilled from a screener
row's bell: `?key=NSE_EQ:2885`), deleting one, and each alert's firings with its
webhook attempts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from alerts.api import create_alert
from alerts.models import CONDITIONS, Alert
from alerts.validation import AlertInputError, parse_alert


def _form_body(post) -> dict:
    body = {
        "key": post.get("key", "").strip(),
        "condition": post.get("condition", ""),
        "value": post.get("value", "").strip(),
        "frequency": post.get("frequency") or "once",
        "note": post.get("note", ""),
    }
    if post.get("cooldown_seconds", "").strip().isdigit():
        body["cooldown_seconds"] = int(post["cooldown_seconds"])
    if post.get("expires_at", "").strip():
        body["expires_at"] = post["expires_at"].strip()
    if post.get("webhook_url", "").strip():
        body["webhook"] = {"url": post["webhook_url"], "secret": post.get("webhook_secret", "")}
    return body


@login_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        try:
            alert = create_alert(request.user, parse_alert(_form_body(request.POST)))
        except AlertInputError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Alert set: {alert}.")
            return redirect("alerts:alerts")
    alerts = Alert.objects.filter(user=request.user).prefetch_related("events")
    return render(
        request,
        "alerts/alerts.html",
        {
            "alerts": alerts,
            "conditions": CONDITIONS,
            "error": error,
            "prefill": request.POST if error else {"key": request.GET.get("key", "")},
        },
    )


@login_required
@require_POST
def delete_alert(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Alert, pk=pk, user=request.user).delete()  # own alerts only
    return redirect("alerts:alerts")
