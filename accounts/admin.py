"""Broker accounts in the admin: the token is write-only (a password field replaces it)
and shown masked; its ciphertext is not shown either."""

from __future__ import annotations

from django.contrib import admin

from accounts.forms import BrokerAccountForm
from accounts.models import BrokerAccount


class AdminBrokerAccountForm(BrokerAccountForm):
    class Meta(BrokerAccountForm.Meta):
        fields = ["user", "client_id", "label"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # keep the token unless a new one is typed
            self.fields["access_token"].required = False

    def save(self, commit: bool = True) -> BrokerAccount:
        account = super(BrokerAccountForm, self).save(commit=False)
        if self.cleaned_data.get("access_token"):
            account.set_token(self.cleaned_data["access_token"])
        if commit:
            account.save()
        return account


@admin.register(BrokerAccount)
class BrokerAccountAdmin(admin.ModelAdmin):
    form = AdminBrokerAccountForm
    list_display = ["client_id", "user", "label", "masked_token", "status", "updated_at"]
    list_filter = ["status"]
    readonly_fields = ["masked_token", "status", "status_detail"]
    search_fields = ["client_id", "user__username", "label"]
