"""One module per group of routes, each with `add_routes(app)`.

What several of them use lives in modules without routes (`shared`, `tracking_locations`,
`refusals`, `multipart_bodies`, and the passthrough's `forward`), so no route module imports
another.
"""
