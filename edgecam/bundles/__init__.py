"""Model bundles: manifests, the resolver (names → files, sha256-checked) and ncnn file validation."""
