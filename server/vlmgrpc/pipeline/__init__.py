"""Pipeline: turns accepted inputs into elements (images, or document pages with their text layer)."""
