"""Worst-case search (falsifier), exact MILP verification, and the replayable witness."""
