"""The HTTP front: ``Api`` (route + roles + validation + OpenAPI), middlewares, REST schemas,
the application keys, and one route module per resource under ``api.routes``."""
