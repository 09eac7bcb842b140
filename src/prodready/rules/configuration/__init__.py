"""Configuration: settings that are right on a laptop and wrong in production, and the hygiene of
prodready's own suppression comments."""
