"""Getting bytes from the web: HTTP client, feed parsing, URL canonicalisation."""
