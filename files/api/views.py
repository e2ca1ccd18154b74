"""The Files API: upload several, list, get, download, delete; the retention setting."""

from django.conf import settings
from django.http import FileResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from audit.services import Actor
from core.access import Role, Scope
from core.api.parsers import JSONParser
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from files import selectors, services, uploads
from files.api import serializers as s

# Viewers chat, so they attach files; each sees and deletes their own (admins: all).
_READ, _WRITE = Scope.SESSIONS_READ, Scope.CHAT_WRITE


class FileListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    required_roles = {"POST": Role.VIEWER}
    api_scopes = {"GET": _READ, "POST": _WRITE}
    serializer_class = s.FileOutputSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return selectors.files_visible(caller=self.caller)

    @extend_schema(operation_id="files_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        request={"multipart/form-data": s.FileUploadSerializer},
        responses={201: s.FileListOutputSerializer},
        description=(
            "Upload one or more files: documents (PDF, DOCX, HTML, Markdown, text, JSON), "
            "tables (CSV, XLSX) and images (PNG, JPEG, GIF, WebP). Types are checked by "
            "content; 413 above FILES_MAX_UPLOAD_BYTES, 415 for other types; nothing is "
            "stored unless every file is acceptable. Each is then read in the background "
            "(`status` pending -> processed or failed)."
        ),
    )
    def post(self, request):
        data = s.FileUploadSerializer(data={"files": request.FILES.getlist("files")})
        data.is_valid(raise_exception=True)
        limit = settings.FILES_MAX_UPLOAD_BYTES
        for upload in data.validated_data["files"]:
            if upload.size > limit:  # refused before a huge file is read into memory
                raise uploads.PayloadTooLarge(
                    f"{upload.name} is {upload.size:,} bytes; the limit is {limit:,} bytes."
                )
        created = uploads.files_upload(
            uploads=[uploads.Upload(f.name, f.read()) for f in data.validated_data["files"]],
            user=request.user if getattr(request.user, "pk", None) else None,
            api_key_id=self.api_key.pk if self.api_key else None,
            actor=Actor.from_request(request),
        )
        body = s.FileListOutputSerializer({"results": created}).data
        return Response(body, status=status.HTTP_201_CREATED)


class FileDetailView(OrganizationAPIView):
    required_roles = {"DELETE": Role.VIEWER}
    api_scopes = {"GET": _READ, "DELETE": _WRITE}

    @extend_schema(responses=s.FileOutputSerializer)
    def get(self, request, file_id):
        file = selectors.file_get(caller=self.caller, file_id=file_id)
        return Response(s.FileOutputSerializer(file).data)

    @extend_schema(responses={204: None})
    def delete(self, request, file_id):
        file = selectors.file_get(caller=self.caller, file_id=file_id)
        uploads.file_remove(file=file, actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FileDownloadView(OrganizationAPIView):
    api_scopes = {"GET": _READ}

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            302: OpenApiResponse(description="A short-lived signed URL (S3 storage)."),
        },
        description=(
            "The file's bytes: streamed through the platform from local storage, or a "
            "redirect to a signed URL valid FILES_DOWNLOAD_URL_SECONDS (S3)."
        ),
    )
    def get(self, request, file_id):
        file = selectors.file_get(caller=self.caller, file_id=file_id)
        url = services.file_signed_url(file=file)
        if url:
            return HttpResponseRedirect(url)
        return FileResponse(
            file.storage.open("rb"),
            as_attachment=True,
            filename=file.name,
            content_type=file.content_type,
        )


class FileSettingsView(OrganizationAPIView):
    required_roles = {"PATCH": Role.ADMIN}
    api_scopes = {"GET": _READ, "PATCH": Scope.ADMIN}

    @extend_schema(responses=s.FileSettingsSerializer)
    def get(self, request):
        return Response(s.FileSettingsSerializer(services.file_settings_get()).data)

    @extend_schema(request=s.FileSettingsSerializer, responses=s.FileSettingsSerializer)
    def patch(self, request):
        data = s.FileSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.file_settings_update(
            attachment_retention_days=data.validated_data["attachment_retention_days"],
            actor=Actor.from_request(request),
        )
        return Response(s.FileSettingsSerializer(row).data)
