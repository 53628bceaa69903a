"""The routing file: products (UPL), owning teams, keywords, service norms."""
