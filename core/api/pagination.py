from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """Every list: ?page=N&page_size=M (max 100) -> {count, next, previous, results}."""

    page_size_query_param = "page_size"
    max_page_size = 100
