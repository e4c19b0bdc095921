"""Broker accounts in the admin: the token is write-only (a password field replaces it),
shown masked, its ciphertext not shown either, and a typed token is checked with DhanHQ
as on the page (`accounts.linking`). Login lockouts are django-axes' own admin pages
("Access attempts": delete a row to unlock; "Access failures", "Access logs")."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from accounts.forms import BrokerAccountForm
from accounts.models import BrokerAccount


class AdminBrokerAccountForm(BrokerAccountForm):
    class Meta(BrokerAccountForm.Meta):
        fields = ["user", "client_id", "label"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # keep the token unless a new one is typed
            self.fields["access_token"].required = False

    def token_to_check(self, cleaned: dict) -> str | None:
        """A typed token; or the stored one when the client id changes under it."""
        if cleaned.get("access_token"):
            return cleaned["access_token"]
        if self.instance.pk and "client_id" in self.changed_data:
            return self.instance.token
        return None

    def owner_of(self, cleaned: dict) -> AbstractBaseUser | None:
        return cleaned.get("user")

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

    def get_form(self, request: HttpRequest, obj: BrokerAccount | None = None, **kwargs):
        """Called for each add or change page: the staff member's refused tokens count
        against them, as a user's do on the page."""
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor_id": request.user.pk})
