from django.urls import path

from users import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("signup/", views.signup_page, name="signup-page"),
]
