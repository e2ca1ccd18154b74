from django.urls import path

from users.api import views

urlpatterns = [
    path("signup", views.SignupView.as_view(), name="signup"),
]
