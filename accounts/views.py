"""The signed-in user's broker accounts: list (tokens masked), link one, replace a token.
A token is stored only after DhanHQ accepted it (the forms check it: `accounts.linking`);
then the account's order socket is asked for (`accounts.linking.want_order_stream`)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import BrokerAccountForm, ReplaceTokenForm
from accounts.linking import want_order_stream
from accounts.models import BrokerAccount


@login_required
def broker_accounts(request: HttpRequest) -> HttpResponse:
    form = BrokerAccountForm(request.POST or None, owner=request.user, actor_id=request.user.pk)
    if request.method == "POST" and form.is_valid():
        account = form.save(commit=False)
        account.user = request.user
        try:
            account.save()
        except IntegrityError:  # linked by a request that raced this one
            form.add_error("client_id", "this client id is linked already")
        else:
            want_order_stream(account)
            messages.success(request, f"Linked DhanHQ account {account.client_id}.")
            return redirect("accounts:broker_accounts")
    accounts = BrokerAccount.objects.filter(user=request.user)
    return render(request, "accounts/broker_accounts.html", {"form": form, "accounts": accounts})


@login_required
@require_POST
def replace_token(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(BrokerAccount, pk=pk, user=request.user)  # own accounts only
    form = ReplaceTokenForm(request.POST, account=account, actor_id=request.user.pk)
    if form.is_valid():
        account.set_token(form.cleaned_data["access_token"])
        account.save()
        want_order_stream(account)  # an expired token's socket runs again
        messages.success(request, f"Replaced the token of {account.client_id}.")
    else:
        refusals = form.non_field_errors()
        messages.error(request, refusals[0] if refusals else "Type the new access token.")
    return redirect("accounts:broker_accounts")
