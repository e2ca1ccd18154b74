"""Query-string serializers."""

from rest_framework import serializers


class QuerySerializer(serializers.Serializer):
    """Query parameters, where DRF would treat ``?start=`` like a missing parameter: a
    parameter that is given must be valid, so an empty one is an error."""

    def to_internal_value(self, data):
        blank = {
            name: ["This value may not be blank."]
            for name, field in self.fields.items()
            if name in data
            and str(data.get(name, "")).strip() == ""
            and not getattr(field, "allow_blank", False)
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class QueryBooleanField(serializers.BooleanField):
    """An optional true/false filter: omitted is None (no filter), while the text "null"
    (which DRF's BooleanField would take for None) is an error like any other word."""

    NULL_VALUES = {None}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)
