"""Sign-up and profile pages; logging in and out are Django's own views."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .forms import SignUpForm
from .models import FailedLogin, Profile


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account: the receivers of ``post_save`` do the rest."""
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        messages.success(
            request,
            f"Welcome, {user.get_username()}: a profile was created and a welcome "
            "email sent (see the terminal). Now log in.",
        )
        return redirect("accounts:login")
    return render(request, "accounts/signup.html", {"form": form})


def profile(request: HttpRequest) -> HttpResponse:
    """Show the visitor's login count and the recent failed logins."""
    user_profile = None
    if request.user.is_authenticated:
        user_profile = Profile.objects.filter(user=request.user).first()
    return render(
        request,
        "accounts/profile.html",
        {"profile": user_profile, "failed_logins": FailedLogin.objects.all()[:10]},
    )
