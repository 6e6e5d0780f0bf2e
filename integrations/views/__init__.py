"""Developer Portal pages, one module per group of pages.

- `home`: the portal home, the cards of the org's drafts;
- `tile`: Part 1, a draft's tile (name and logo);
- `start`: where a new draft's configuration starts (blank, the demo partner, a manifest);
- `editor_page`: Part 2, the configuration editor and its live calls;
- `drafts`: a draft as a whole, from a card or the editor's menu: import, export,
  duplicate, delete;
- `history`: the revision history, compared and restored;
- `catalogue`: the Destinations page, the internal release, and the platform admins'
  destinations (rollback);
- `uploads`: reading an uploaded logo or manifest, bounded.

Views parse input, call one action or helper, and render.
"""
