"""Simulated users: a fixed, seeded set of readers whose hidden taste is not the rubric.

Each approved insight is shown to one reader (chosen from the prompt's user hash); the
reader reacts at a configurable rate (sparse, like real apps) with thumbs up or down,
drawn from their own like probability, sometimes with a comment. What they like
(docs/feedback.md):

- short texts (a per-user word limit of 30-60 words; the rubric's band is 50-150);
- written to "you", not about "I"/"we";
- about their own context: the prompt's focus, card, mood or journal words taken up;
- concrete: numbers, times of day, everyday objects;
- and they dislike certain clichés ("journey", "universe", "energy", "manifest", ...),
  each user a seeded subset of them, where the rubric rewards contemplative vocabulary.

Everything here is a pure function of the seed and the record, so the trainer and a
promotion step can score any text's predicted thumbs-up rate with
:func:`thumbs_up_rate`, and a simulator run replays to the same feedback (same ids).

Error policy: none raised for odd input; a record without text or prompt gets the
taste of an empty text. ``users`` below 1 or a rate outside 0-1 is a ``ValueError``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

CLICHES = ("journey", "universe", "energy", "energies", "manifest", "embrace", "align",
           "alignment", "vibration", "vibrations", "sacred", "divine", "cosmic", "abundance",
           "your truth", "trust the process", "everything happens for a reason", "higher self",
           "soul", "magic", "blessings", "radiate", "transform", "path unfolds")
_SECOND = frozenset({"you", "your", "yours", "yourself", "you're", "you'll", "you've", "you'd"})
_FIRST = frozenset({"i", "me", "my", "mine", "myself", "we", "our", "us", "ours", "i'm", "i've"})
_CONCRETE = frozenset((
    "one two three four five six seven eight nine ten twenty thirty minute minutes hour hours "
    "today tonight tomorrow morning evening lunch breakfast dinner bed monday tuesday wednesday "
    "thursday friday saturday sunday weekend phone notebook paper pen kitchen desk email inbox "
    "walk cup tea coffee door window shoes list timer calendar note text call message glass water "
    "table chair car bus train street").split())
_STOP = frozenset(("this that with from your have about into what when them they their there "
                   "then than just like over some more most been were will would could should "
                   "which while where these those other").split())
_WORD = re.compile(r"[a-z0-9']+")
_NS = uuid.UUID("6f1c1d0e-4b7a-5c8e-9a43-1f0b6d2c7e15")

# Population means of the taste weights (each user scales them by 0.6-1.4).
_WEIGHTS = {"short": 2.4, "second_person": 1.6, "own_context": 2.2, "concrete": 1.4, "cliche": 1.1}

_COMMENTS = {
    "long": "Too long, I skimmed it.",
    "cliche": "Lost me at '{cliche}'.",
    "generic": "Felt generic, not about my week.",
    "context": "This was about my actual week, thanks.",
    "short": "Short, and something I can actually do.",
}
# Real users sometimes paste contact details; the trainer must redact them.
_CONTACTS = ("You can email me at {name}.{n}@example.com if you want.",
             "Write to me: {name}{n}@mailbox.org")
_NAMES = ("sam", "alex", "kim", "jo", "robin", "noor", "lee", "ari")


@dataclass(frozen=True)
class SimUser:
    """One simulated reader: a user hash and their hidden taste."""

    index: int
    user_hash: str
    max_words: int
    weights: Mapping[str, float]
    bias: float
    dislikes: frozenset[str]


@lru_cache(maxsize=16)
def user_set(seed: int = 0, count: int = 40) -> tuple[SimUser, ...]:
    """The ``count`` users of ``seed``: the same seed always gives the same users."""
    if count < 1:
        raise ValueError(f"a simulated user set needs at least 1 user, got {count}")
    users = []
    for i in range(count):
        rng = random.Random(f"kasper-users:{seed}:{i}")
        weights = {k: round(v * rng.uniform(0.6, 1.4), 4) for k, v in _WEIGHTS.items()}
        dislikes = frozenset(c for c in CLICHES if rng.random() < 0.7)
        users.append(SimUser(
            index=i, user_hash=hashlib.sha256(f"kasper-sim-user:{seed}:{i}".encode()).hexdigest()[:16],
            max_words=rng.randint(30, 60), weights=weights, bias=round(rng.gauss(0.0, 0.4), 4),
            dislikes=dislikes))
    return tuple(users)


@dataclass(frozen=True)
class TextTraits:
    """What the taste reads from a text, each 0-1 (``cliches``: the ones found)."""

    words: int
    second_person: float
    own_context: float
    concrete: float
    cliches: tuple[str, ...]


def traits(text: str, context: Mapping[str, Any] | None = None) -> TextTraits:
    """The traits of ``text`` for a prompt with ``context``."""
    lowered = (text or "").lower()
    words = _WORD.findall(lowered)
    second = sum(w in _SECOND for w in words)
    first = sum(w in _FIRST for w in words)
    sentences = max(1, len(re.findall(r"[.!?]+(?:\s|$)", lowered)) or 1)
    second_person = min(1.0, second / sentences) * (second / (second + first) if second + first else 0.0)
    wanted = _context_words(context)
    hits = len(wanted & set(words))
    own_context = min(1.0, hits / 2)
    concrete_hits = sum(w in _CONCRETE or w.isdigit() for w in words)
    concrete = min(1.0, concrete_hits / 3)
    padded = f" {' '.join(words)} "
    found = tuple(c for c in CLICHES if f" {c} " in padded)
    return TextTraits(len(words), round(second_person, 4), own_context, round(concrete, 4), found)


def _context_words(context: Mapping[str, Any] | None) -> set[str]:
    out: set[str] = set()
    for value in (context or {}).values():
        if isinstance(value, str):
            out.update(w for w in _WORD.findall(value.lower()) if len(w) >= 4 and w not in _STOP)
    return out


def like_probability(user: SimUser, text: str, context: Mapping[str, Any] | None = None) -> float:
    """How likely ``user`` gives ``text`` a thumbs up (0-1)."""
    t = traits(text, context)
    short = 1.0 if t.words <= user.max_words else math.exp(-(t.words - user.max_words) / 20)
    w = user.weights
    z = (user.bias + w["short"] * (short - 0.5) + w["second_person"] * (t.second_person - 0.4)
         + w["own_context"] * (t.own_context - 0.4) + w["concrete"] * (t.concrete - 0.4)
         - w["cliche"] * sum(c in user.dislikes for c in t.cliches))
    return 1.0 / (1.0 + math.exp(-z))


def thumbs_up_rate(text: str, context: Mapping[str, Any] | None = None,
                   users: Sequence[SimUser] | None = None) -> float:
    """The predicted thumbs-up rate of ``text`` over ``users`` (default: seed 0's 40 users)."""
    users = users if users is not None else user_set()
    return sum(like_probability(u, text, context) for u in users) / len(users)


def reader_of(prompt: Mapping[str, Any], users: Sequence[SimUser], seed: int = 0) -> SimUser:
    """The simulated user an insight for ``prompt`` is shown to (from its user hash, or its id)."""
    who = prompt.get("user_hash") or prompt.get("prompt_id") or ""
    digest = hashlib.sha256(f"kasper-reader:{seed}:{who}".encode()).digest()
    return users[int.from_bytes(digest[:8], "big") % len(users)]


def feedback_id(seed: int, insight_id: str) -> str:
    """The id of the simulated feedback on ``insight_id``: a repeated run sends the same ids."""
    return str(uuid.uuid5(_NS, f"{seed}:{insight_id}"))


def feedback_for(approved: Mapping[str, Any], *, seed: int = 0, users: Sequence[SimUser] | None = None,
                 rate: float = 0.1, comment_rate: float = 0.2, personal_data_rate: float = 0.1,
                 now: datetime | None = None) -> dict[str, Any] | None:
    """The Feedback its reader gives an ApprovedInsight, or None (most insights get none).

    Deterministic per (seed, insight id): the rate, the thumbs and the comment are drawn
    from a generator seeded by them; only ``created_at`` (``now``) comes from outside.
    """
    for name, value in (("rate", rate), ("comment_rate", comment_rate),
                        ("personal_data_rate", personal_data_rate)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"simulated feedback {name} must be within 0-1, got {value}")
    users = users if users is not None else user_set(seed)
    insight_id = approved["insight_id"]
    rng = random.Random(f"kasper-feedback:{seed}:{insight_id}")
    if rng.random() >= rate:
        return None
    prompt = approved.get("prompt") or {}
    text = (approved.get("insight") or {}).get("text") or ""
    user = reader_of(prompt, users, seed)
    up = rng.random() < like_probability(user, text, prompt.get("context"))
    comment = None
    if rng.random() < comment_rate:
        comment = _comment(user, text, prompt.get("context"), up)
        if rng.random() < personal_data_rate:
            contact = rng.choice(_CONTACTS).format(name=rng.choice(_NAMES), n=rng.randint(10, 99))
            comment = f"{comment} {contact}"
    return {"feedback_id": feedback_id(seed, insight_id), "insight_id": insight_id,
            "user_hash": user.user_hash, "rating": "up" if up else "down", "stars": None,
            "comment": comment, "created_at": now or datetime.now(timezone.utc)}


def _comment(user: SimUser, text: str, context: Mapping[str, Any] | None, up: bool) -> str:
    t = traits(text, context)
    if up:
        return _COMMENTS["context" if t.own_context >= 0.5 else "short"]
    disliked = [c for c in t.cliches if c in user.dislikes]
    if disliked:
        return _COMMENTS["cliche"].format(cliche=disliked[0])
    return _COMMENTS["long" if t.words > user.max_words else "generic"]
