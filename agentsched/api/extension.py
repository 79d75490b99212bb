"""What an API extension is: metadata for /v2.0/extensions and its routes."""

import collections

# routes: {path: {method: handler}}, Flask path syntax (<name>) for params;
# openapi: {'paths': {...}, 'schemas': {...}}, the OpenAPI part of routes.
Extension = collections.namedtuple(
    'Extension', 'alias name description updated routes openapi')
