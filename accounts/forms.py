"""Linking a broker account and replacing its token (the page `/accounts/brokers/` and the
admin): the token is a password field, never echoed back, and checked with DhanHQ
(`accounts.linking`) in `clean()`, so nothing is saved unless DhanHQ accepts it."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import AbstractBaseUser

from accounts import linking
from accounts.models import BrokerAccount


def checked_with_dhanhq(*, actor_id: int, client_id: str, token: str) -> None:
    """Called by the forms' `clean()`: DhanHQ's verdict as a form error."""
    try:
        linking.check_token(actor_id=actor_id, client_id=client_id, token=token)
    except linking.LinkRefused as exc:
        raise forms.ValidationError(str(exc), code="token_refused") from None


class BrokerAccountForm(forms.ModelForm):
    access_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        strip=True,
        help_text="Stored encrypted; shown masked; never sent back to a browser.",
    )
    actor_id: int | None = None  # who is linking: their refused tokens are counted

    class Meta:
        model = BrokerAccount
        fields = ["client_id", "label"]

    def __init__(
        self,
        *args: object,
        owner: AbstractBaseUser | None = None,
        actor_id: int | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        if actor_id is not None:
            self.actor_id = actor_id

    def clean_client_id(self) -> str:
        client_id = self.cleaned_data["client_id"].strip()
        if not client_id.isdigit():
            raise forms.ValidationError("a DhanHQ client id is digits only")
        return client_id

    def clean(self) -> dict:
        """After the fields: a client id the owner has linked already is refused before
        DhanHQ is asked; then the token is checked (one REST call)."""
        cleaned = super().clean()
        client_id, token = cleaned.get("client_id"), self.token_to_check(cleaned)
        if self.errors or not client_id or not token:
            return cleaned
        owner = self.owner_of(cleaned)
        if owner is not None and self._linked_already(owner, client_id):
            raise forms.ValidationError({"client_id": "this client id is linked already"})
        actor_id = self.actor_id if self.actor_id is not None else getattr(owner, "pk", 0)
        checked_with_dhanhq(actor_id=actor_id, client_id=client_id, token=token)
        return cleaned

    def token_to_check(self, cleaned: dict) -> str | None:
        return cleaned.get("access_token")

    def owner_of(self, cleaned: dict) -> AbstractBaseUser | None:
        return self.owner

    def _linked_already(self, owner: AbstractBaseUser, client_id: str) -> bool:
        others = BrokerAccount.objects.filter(user=owner, client_id=client_id)
        return others.exclude(pk=self.instance.pk).exists()

    def save(self, commit: bool = True) -> BrokerAccount:
        account = super().save(commit=False)
        account.set_token(self.cleaned_data["access_token"])
        if commit:
            account.save()
            linking.want_order_stream(account)
        return account


class ReplaceTokenForm(forms.Form):
    """A new token for `account`, checked with DhanHQ for its client id."""

    access_token = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=True)

    def __init__(
        self, *args: object, account: BrokerAccount, actor_id: int, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.actor_id = actor_id

    def clean(self) -> dict:
        cleaned = super().clean()
        token = cleaned.get("access_token")
        if token:
            checked_with_dhanhq(
                actor_id=self.actor_id, client_id=self.account.client_id, token=token
            )
        return cleaned
