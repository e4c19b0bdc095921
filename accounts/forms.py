"""Linking a broker account: the token is a password field, never echoed back."""

from __future__ import annotations

from django import forms

from accounts.models import BrokerAccount


class BrokerAccountForm(forms.ModelForm):
    access_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        strip=True,
        help_text="Stored encrypted; shown masked; never sent back to a browser.",
    )

    class Meta:
        model = BrokerAccount
        fields = ["client_id", "label"]

    def clean_client_id(self) -> str:
        client_id = self.cleaned_data["client_id"].strip()
        if not client_id.isdigit():
            raise forms.ValidationError("a DhanHQ client id is digits only")
        return client_id

    def save(self, commit: bool = True) -> BrokerAccount:
        account = super().save(commit=False)
        account.set_token(self.cleaned_data["access_token"])
        if commit:
            account.save()
        return account


class ReplaceTokenForm(forms.Form):
    access_token = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=True)
