"""The integration manifest (DESIGN §4): schema, variables, normalisation and checks.

- `schema`: the endpoints, auth methods, field types, limits, key orders and defaults;
- `variables`: declared and pre-defined variables and where each is used;
- `normalize`: loading, normalising and the canonical JSON of a manifest;
- `shapes` and `checks`: `check_manifest`, every problem with its path, line and column.

Code imports from the module that defines a name, so that the layers stay visible.
The NUL helpers are in `syncengine.core.nul`, the diagnostic codes in
`syncengine.core.diagnostic_codes`.
"""
