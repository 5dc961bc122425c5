"""The sentinel state store: alert state, silences and delivery claims (SQLAlchemy Core)."""
