from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    """Every list: ?page=N&page_size=M (max 100) -> {count, next, previous, results}."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        # DRF falls back to the default for a malformed page_size; the schema says it is
        # an integer, so anything else is the caller's error (400), not ignored.
        page = request.query_params.get(self.page_query_param)
        if page is not None and not page.strip().isdigit() and page != "last":
            raise ValidationError({"page": ["A page number is required."]})
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not raw.strip().isdigit():
            raise ValidationError({"page_size": ["A whole number is required."]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page (at most {self.max_page_size}; more is capped, "
                    "0 means the default)."
                )
        return parameters
