"""Points of Interest: reading sources, synthesising descriptions, encoding them as text embeddings."""
