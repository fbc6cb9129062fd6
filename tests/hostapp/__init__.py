"""A host project's own models with UploadFields, for the tests."""
