"""Assets: the registry of a project's images and sounds (sidecars, search index, previews,
provenance)."""
