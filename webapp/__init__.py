"""Web-side glue: how Dash callbacks reach the store (cached queries) and the shared page shell."""
