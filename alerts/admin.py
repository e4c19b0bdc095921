"""The admin's views of alerts and their firings (API tokens: `accounts.admin`). Staff may
edit an alert's webhook URL, so the form checks it as the API does
(`alerts.validation.webhook_url`)."""

from django import forms
from django.contrib import admin

from alerts.models import Alert, AlertEvent
from alerts.validation import AlertInputError, webhook_url


class AlertForm(forms.ModelForm):
    webhook_url = forms.URLField(
        max_length=Alert._meta.get_field("webhook_url").max_length,
        required=False,
        assume_scheme="https",
    )

    class Meta:
        model = Alert
        exclude = ["webhook_secret_encrypted"]  # never shown; set it through the API or page

    def clean_webhook_url(self) -> str:
        """Called by the admin's form when staff save an alert: the API's webhook check."""
        url = self.cleaned_data["webhook_url"]
        if not url:
            return url
        try:
            return webhook_url(url)
        except AlertInputError as exc:
            raise forms.ValidationError(str(exc)) from None


class EventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    fields = ["triggered_at", "previous_price", "price", "webhook", "attempts"]
    readonly_fields = fields
    can_delete = False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "key",
        "condition",
        "value",
        "frequency",
        "status",
        "error_reason",
        "user",
        "fire_count",
    ]
    list_filter = ["status", "condition", "frequency"]
    search_fields = ["key", "user__username", "note"]
    form = AlertForm
    exclude = ["webhook_secret_encrypted"]  # never shown; set it through the API or page
    readonly_fields = ["created_price", "last_fired_at", "fire_count"]
    inlines = [EventInline]
