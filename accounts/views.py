"""Sign-up: a local account is all a newcomer needs to reach the settings pages.

Open only when `ACCOUNTS_SIGNUP_OPEN` (default: in development); POSTs are limited per client IP
(`ACCOUNTS_SIGNUP_RATE_LIMIT`), so one address cannot mass-create accounts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters

from ideaforge import ratelimit
from ideaforge.clientip import client_ip


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.ACCOUNTS_SIGNUP_OPEN:
        return render(request, "registration/signup_closed.html", status=404)
    if request.user.is_authenticated:
        return redirect("home")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST":
        retry = ratelimit.hit(settings.ACCOUNTS_SIGNUP_RATE_LIMIT, "accounts-signup", client_ip(request))
        if retry is not None:
            messages.error(request, f"Too many sign-up attempts from your address; try again in {retry.seconds} s.")
            response = render(request, "registration/signup.html", {"form": UserCreationForm()}, status=429)
            response["Retry-After"] = str(retry.seconds)
            return response
        if form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    return render(request, "registration/signup.html", {"form": form})
