"""`/alerts/`: the signed-in user's alerts, a form to make one (its instrument picked by
symbol, or prefilled from a screener row's bell or a chart: `?key=NSE_EQ:2885`; the form's
fields are alerts/forms.py's), deleting one, and each alert's firings with its webhook
attempts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from alerts.api import create_alert
from alerts.forms import form_body, prefill_from_link
from alerts.models import CONDITIONS, Alert
from alerts.validation import AlertInputError, parse_alert


@login_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        try:
            alert = create_alert(request.user, parse_alert(form_body(request.POST)))
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
            "prefill": request.POST if error else prefill_from_link(request.GET.get("key", "")),
        },
    )


@login_required
@require_POST
def delete_alert(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Alert, pk=pk, user=request.user).delete()  # own alerts only
    return redirect("alerts:alerts")
