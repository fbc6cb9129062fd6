from django.contrib import admin

from tests.hostapp.models import Exhibition

admin.site.register(Exhibition)  # the pictures get the UploadsField widget, nothing else set
