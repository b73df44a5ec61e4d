"""Plain domain types shared by every layer: ids, statuses and their allowed moves, errors."""
