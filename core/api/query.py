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
