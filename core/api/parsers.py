"""The API's JSON parser: DRF's, with deep nesting refused as a 400.

Python's JSON decoder recurses once per nesting level; a body of a few thousand
``[`` raises RecursionError, which DRF's parser does not catch (a 500). Nesting that
deep is never a real request: refuse it as the malformed body it is.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
