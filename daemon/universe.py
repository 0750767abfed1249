"""The swing universe: which symbols the swing track polls over REST.

``OBSERVER_SWING_SYMBOLS`` when set; otherwise ``universe.csv`` in OBSERVER_CONFIG_DIR when
the operator provides one; otherwise the universe file shipped with the daemon. The file
format is CSV with a header ``symbol,name,base_price``.
"""

from __future__ import annotations

from observer.daemon.config import Config
from observer.daemon.errors import ConfigError
from observer.daemon.simulator.market import load_universe
from observer.daemon.symbols import SymbolError, parse_symbols


def swing_universe(cfg: Config) -> list[str]:
    if cfg.swing_symbols:
        return list(cfg.swing_symbols)
    path = cfg.config_dir / "universe.csv"
    text = None
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(
                f"{path} (OBSERVER_CONFIG_DIR) cannot be read ({e.strerror}); fix its "
                "permissions or remove it to use the built-in universe."
            ) from None
    try:
        listings = load_universe(text)
    except (KeyError, ValueError) as e:
        raise ConfigError(
            f"{path} is not a universe file (CSV with header symbol,name,base_price): {e}. "
            "Fix it or remove it to use the built-in universe."
        ) from None
    try:
        return parse_symbols(listings, limit=None)
    except SymbolError as e:
        raise ConfigError(f"{path}: {e}. Fix the file or remove it.") from None
