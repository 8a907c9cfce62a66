"""The reference messaging server: the seed's order-chat API over SQLite, with every delivery strategy."""
