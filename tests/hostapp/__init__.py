"""A host project's own models with UploadFields, for the tests (no migrations: the test
database is made with --run-syncdb)."""
