"""Pure rules of the site, without Flask: each takes plain values or models and a DB session."""
