"""The project's own pages: sign in, and a profile form whose avatar is an UploadField."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import User


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "avatar"]


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """GET/POST /profile/: the signed-in user's name and avatar (uploaded by the widget)."""
    user = request.user
    assert isinstance(user, User)  # signed in
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=user)
    # Validated before the transaction: completing a pending upload commits its verdict (a
    # lying file is rejected and removed) even when the form is then refused.
    if form.is_valid():
        with transaction.atomic():
            form.save()
        messages.success(request, "Your profile is saved.")
        return redirect("accounts:profile")
    return render(request, "profile.html", {"form": form})
