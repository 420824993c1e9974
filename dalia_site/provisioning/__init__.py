"""Territory templates -> site folder: config, secret, database, first admin."""
