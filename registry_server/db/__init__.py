"""The registry's SQL layer: SQLModel tables and the engine/session set-up."""
