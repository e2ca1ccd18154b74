from django.contrib import admin

from assistants.catalog.models import AIModel


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    list_display = [
        "model_id",
        "provider",
        "display_name",
        "input_price_per_million",
        "output_price_per_million",
        "is_available",
        "deprecation_date",
    ]
    list_filter = ["provider", "is_available"]
    search_fields = ["model_id", "display_name"]
