"""Broker accounts and API tokens in the admin. A broker account's token is write-only (a
password field replaces it), shown masked, its ciphertext not shown either, and a typed
token is checked with DhanHQ as on the page (`accounts.linking`); an API token shows only
its owner and dates. Login lockouts are django-axes' own admin pages
("Access attempts": delete a row to unlock; "Access failures", "Access logs")."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from accounts.forms import BrokerAccountForm
from accounts.linking import drop_order_stream, want_order_stream
from accounts.models import ApiToken, BrokerAccount


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

    def save_model(self, request: HttpRequest, obj: BrokerAccount, form, change: bool) -> None:
        """An account linked or changed here: its order socket is asked for, as on the page."""
        super().save_model(request, obj, form, change)
        want_order_stream(obj)

    def delete_model(self, request: HttpRequest, obj: BrokerAccount) -> None:
        """An account deleted here: its order socket stops and its row goes."""
        account_id = obj.pk
        super().delete_model(request, obj)
        drop_order_stream(account_id)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        """The list's "delete selected": each account's order socket, as one by one."""
        account_ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for account_id in account_ids:
            drop_order_stream(account_id)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only: only a key's digest is stored (`create_api_token` makes keys)."""

    list_display = ["user", "created_at", "last_used_at"]
    readonly_fields = ["user", "digest", "created_at", "last_used_at"]
