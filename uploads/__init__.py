"""Direct-to-storage uploads with admin-managed upload policies."""

__version__ = "0.1.0"
