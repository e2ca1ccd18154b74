"""URLs of an organization host for bench/api.py: the real ones, plus a bare endpoint.

``/bench/bare`` lists the same assistants with the same serializer and pagination as
``GET /api/v1/assistants``, with nothing in front: no authentication, no permission,
no throttling. The difference between the two is what keys, scopes and rate limits
cost per request.
"""

from django.urls import path
from rest_framework import generics
from rest_framework.permissions import AllowAny

from assistants import selectors
from assistants.api.serializers import AssistantOutputSerializer
from config.urls import urlpatterns as organization_urlpatterns


class BareAssistantList(generics.ListAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    serializer_class = AssistantOutputSerializer

    def get_queryset(self):
        return selectors.assistant_list()


urlpatterns = [path("bench/bare", BareAssistantList.as_view()), *organization_urlpatterns]
