"""The template language of DESIGN §5: placeholders in URLs, header values and JSON.

`$name` or `${name}` is a placeholder, `$$` a literal `$`. Three kinds of template:

- **Text** (header values): values are inserted as text.
- **URL**: values are percent-encoded for the part of the URL they land in, so a value
  never adds a path segment, a query parameter or a fragment.
- **JSON with placeholders** (payloads and item templates): parsed by a real JSON parser
  that also accepts a bare placeholder where a value is expected. A bare placeholder or a
  string that is exactly one placeholder becomes the variable's typed JSON value; a
  placeholder inside a longer string is interpolated as text. Rendering builds Python
  objects and serialises them with one `orjson.dumps`, so a value can never add keys or
  break the structure, and since substituted values are never scanned again, a value
  containing `$other` stays exactly that text.

Templates are parsed once and compiled: JSON templates are turned into generated Python
functions that build the objects directly (constants are passed by reference, never pasted
into the source), which keeps a 10,000-item batch close to hand-written code.

One module per part of the language:

- `errors`: `TemplateSyntaxError` (with line and column) and `RenderError`;
- `placeholders`: reading `$name`, `${name}` and `$$`, wherever they appear;
- `values`: how a value reads as text and how rendered values become JSON bytes;
- `text`: header value and URL templates;
- `json_parser`: the parser of JSON with placeholders, giving a syntax tree;
- `json_codegen`: `JsonTemplate`, which compiles that tree into a Python function.
"""
