from django import forms
from django.core.exceptions import ValidationError

from users.validators import validate_organization_slug


class SignupForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, label="Your name")
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, min_length=8, max_length=128)
    organization_name = forms.CharField(max_length=120, label="Organization")
    slug = forms.CharField(
        max_length=40, label="Address", help_text="Lowercase letters and digits, e.g. acme."
    )

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        validate_organization_slug(slug)
        return slug


class InvitationAcceptForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, label="Your name")
    password = forms.CharField(
        widget=forms.PasswordInput, required=False, help_text="Only for a new account."
    )


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's field errors next to the matching form fields."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
