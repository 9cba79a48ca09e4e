"""A generated SillyTavern chat for the import benchmark: seeded, realistic shapes and sizes.

``generate(messages, seed)`` returns the bytes of a ``.jsonl`` chat (1.12-style header, then
messages alternating user/character with *actions*, "speech", swipes on some replies, the
client date format, ``extra`` with api/model/token counts), ~310 bytes a message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from comfyvn.scenario.rng import StoryRandom

WORDS = ("the", "glade", "lantern", "quiet", "river", "stone", "smile", "careful", "warm", "night", "forest",
         "whisper", "light", "path", "old", "gentle", "wind", "story", "home", "bright", "soft", "tea", "door")
ACTIONS = ("She smiles softly.", "He glances at the river.", "She laughs and shakes her head.",
           "The lantern flickers.", "He frowns in thought.", "She tilts her head.", "Rain taps the window.")


def _sentence(rng: StoryRandom, low: int, high: int) -> str:
    words = [WORDS[rng.below(len(WORDS))] for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + "."


def _message(rng: StoryRandom) -> str:
    return f'*{ACTIONS[rng.below(len(ACTIONS))]}* "{_sentence(rng, 5, 14)}" *{_sentence(rng, 3, 7)}*'


def generate(messages: int = 100_000, seed: int = 7) -> bytes:
    rng = StoryRandom(seed)
    start = datetime(2024, 9, 28, 1, 0)
    lines = [orjson.dumps({"user_name": "User", "character_name": "Seraphina", "create_date": "2024-09-28@01h00m00s",
                           "chat_metadata": {"note_prompt": "", "world_info": "Eldoria", "variables": {}}})]
    for i in range(messages):
        when = start + timedelta(minutes=i // 3)
        date = when.strftime("%B %d, %Y %I:%M%p").replace(" 0", " ").lower().replace(when.strftime("%B").lower(),
                                                                                       when.strftime("%B"))
        user = i % 2 == 1
        text = _sentence(rng, 4, 12) if user else _message(rng)
        item = {"name": "User" if user else "Seraphina", "is_user": user, "is_system": False, "send_date": date,
                "mes": text, "extra": {} if user else {"api": "openai", "model": "gpt-4o", "token_count": 60 + i % 40}}
        if not user:
            swipes = [text] + ([_message(rng)] if rng.below(4) == 0 else [])
            item |= {"swipe_id": 0, "swipes": swipes,
                     "swipe_info": [{"send_date": date, "gen_started": None, "gen_finished": None, "extra": {}}
                                    for _ in swipes]}
        lines.append(orjson.dumps(item))
    return b"\n".join(lines)
