"""foliodb: portfolio analytics computed inside PostgreSQL."""

from foliodb import clock as _clock

# Every connection this process and its children open reads the project's clock (FOLIO_TODAY).
_clock.export()
