"""The agentsched admin CLI: cliff commands over the REST API."""
