"""The operators' HTTP API (`acra-enrich serve`): FastAPI on uvicorn, bearer tokens with roles
and tenant pinning, the same database functions as the command line."""
